/**
 * The empty conversation: a greeting, what the chosen agent knows about (the catalogue's expertise)
 * and a few starter prompts built from it. Pressing a prompt sends it.
 */
import type { Agent } from "../api";
import { h } from "./dom";

/** Up to three starter prompts for an agent, from its expertise. */
export function starterPrompts(agent: Agent | undefined): string[] {
  if (!agent) return [];
  return agent.expertise.slice(0, 3).map((topic) => `Where should I start with ${topic}?`);
}

function list(items: string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items.at(-1)}`;
}

export function emptyState(agent: Agent | undefined, onPrompt: (text: string) => void): HTMLElement {
  if (!agent) {
    return h("div", { class: "empty" }, h("p", { class: "greeting" }, "Hello. Pick an agent and ask a question."));
  }
  const prompts = starterPrompts(agent);
  return h(
    "div",
    { class: "empty", "data-agent": agent.id },
    h("p", { class: "greeting" }, `Hello, I'm ${agent.name}${agent.title ? `, your ${agent.title.toLowerCase()}` : ""}.`),
    agent.expertise.length ? h("p", { class: "muted" }, `Ask me about ${list(agent.expertise)}. I remember what we discuss here, in chat and by voice.`) : null,
    prompts.length
      ? h(
          "div",
          { class: "starters", role: "group", "aria-label": "Starter questions" },
          ...prompts.map((text) => {
            const button = h("button", { type: "button", class: "secondary starter" }, text);
            button.addEventListener("click", () => onPrompt(text));
            return button;
          }),
        )
      : null,
  );
}
