/**
 * The agent list (from GET /api/v1/agents) and the current choice, shared by both panels, and the
 * radio-group picker each panel shows (native radios: arrow keys and labels come for free).
 */
import type { Agent } from "../api";
import { h, uid } from "./dom";

export class AgentStore {
  agents: Agent[] = [];
  current = "elena";
  error = "";
  private readonly listeners = new Set<() => void>();

  subscribe(listener: () => void): void {
    this.listeners.add(listener);
  }

  set(update: Partial<Pick<AgentStore, "agents" | "current" | "error">>): void {
    Object.assign(this, update);
    if (this.agents.length && !this.agents.some((a) => a.id === this.current)) this.current = this.agents[0]?.id ?? this.current;
    for (const listener of this.listeners) listener();
  }

  get agent(): Agent | undefined {
    return this.agents.find((a) => a.id === this.current);
  }

  name(id: string): string {
    return this.agents.find((a) => a.id === id)?.name ?? id;
  }
}

/** A fieldset of radios bound to the store; `onPick` runs when the user picks (not on updates). */
export function agentPicker(store: AgentStore, legend: string, onPick: (id: string) => void): HTMLFieldSetElement {
  const group = uid("agent");
  const fieldset = h("fieldset", { class: "agents" }, h("legend", {}, legend));
  const render = (): void => {
    fieldset.querySelectorAll(".agent, .agents-empty").forEach((node) => node.remove());
    if (!store.agents.length) {
      fieldset.append(h("p", { class: "agents-empty muted" }, store.error || "Loading agents…"));
      return;
    }
    for (const agent of store.agents) {
      const id = uid("agent-option");
      const input = h("input", { type: "radio", name: group, id, value: agent.id, checked: agent.id === store.current });
      input.addEventListener("change", () => {
        if (input.checked) onPick(agent.id);
      });
      const label = h(
        "label",
        { for: id, class: "agent-label" },
        h("span", { class: "agent-name" }, agent.name),
        agent.title ? h("span", { class: "agent-title" }, agent.title) : null,
      );
      const option = h("div", { class: "agent", "data-agent": agent.id }, input, label);
      option.style.setProperty("--accent", agent.accent);
      fieldset.append(option);
    }
  };
  store.subscribe(render);
  render();
  return fieldset;
}
