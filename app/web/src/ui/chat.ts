/**
 * Chat panel: pick an agent, type (or dictate) a message, watch the answer stream in as sanitized
 * markdown. Enter sends, Shift+Enter breaks the line; every control is reachable by keyboard.
 */
import { ApiError, type Api } from "../api";
import { renderMarkdown } from "../markdown";
import type { AgentStore } from "./agents";
import { agentPicker } from "./agents";
import { h } from "./dom";

interface SpeechRecognitionLike {
  lang: string;
  interimResults: boolean;
  continuous: boolean;
  start(): void;
  stop(): void;
  onresult: ((event: { results: ArrayLike<ArrayLike<{ transcript: string }>> }) => void) | null;
  onerror: ((event: { error: string }) => void) | null;
  onend: (() => void) | null;
}

type RecognitionConstructor = new () => SpeechRecognitionLike;

function speechRecognition(): RecognitionConstructor | null {
  const w = window as unknown as { SpeechRecognition?: RecognitionConstructor; webkitSpeechRecognition?: RecognitionConstructor };
  return w.SpeechRecognition ?? w.webkitSpeechRecognition ?? null;
}

export interface ChatPanelDeps {
  api: Api;
  agents: AgentStore;
  sessionId: () => string;
  newSession: () => void;
}

export function chatPanel({ api, agents, sessionId, newSession }: ChatPanelDeps): HTMLElement {
  const log = h("div", { id: "chat-log", class: "log", role: "log", "aria-live": "polite", "aria-label": "Conversation" });
  const error = h("p", { id: "chat-error", class: "error", role: "alert" });
  const input = h("textarea", { id: "chat-input", name: "message", rows: "3", required: true, "aria-describedby": "chat-hint" });
  const send = h("button", { type: "submit", id: "chat-send" }, "Send");
  const dictate = h("button", { type: "button", id: "chat-dictate", class: "secondary", "aria-pressed": "false" }, "Dictate");
  const reset = h("button", { type: "button", id: "chat-new", class: "secondary" }, "New conversation");
  const form = h(
    "form",
    { class: "composer", "aria-label": "Send a message" },
    h("label", { for: "chat-input" }, "Message"),
    input,
    h("p", { id: "chat-hint", class: "hint" }, "Enter sends, Shift+Enter starts a new line."),
    h("div", { class: "actions" }, dictate, send),
  );
  const picker = agentPicker(agents, "Agent", (id) => agents.set({ current: id }));
  const panel = h(
    "section",
    { class: "panel", id: "chat-panel", "aria-labelledby": "chat-title" },
    h("div", { class: "panel-head" }, h("h1", { id: "chat-title", tabindex: "-1" }, "Chat"), reset),
    picker,
    log,
    error,
    form,
  );

  let busy = false;

  const addUser = (text: string): HTMLElement => {
    const message = h("div", { class: "message user" }, h("p", { class: "who" }, "You"), h("p", { class: "body" }, text));
    log.append(message);
    return message;
  };

  const addAssistant = (agentId: string): { body: HTMLElement; meta: HTMLElement; who: HTMLElement; root: HTMLElement } => {
    const agent = agents.agents.find((a) => a.id === agentId);
    const who = h("p", { class: "who" }, agent?.name ?? agentId);
    const body = h("div", { class: "body markdown" });
    const meta = h("p", { class: "meta muted" });
    const root = h("div", { class: "message assistant", "data-agent": agentId, "aria-busy": "true" }, who, body, meta);
    root.style.setProperty("--accent", agent?.accent ?? "#4a5568");
    log.append(root);
    return { body, meta, who, root };
  };

  const submit = async (): Promise<void> => {
    const content = input.value.trim();
    if (!content || busy) return;
    busy = true;
    send.disabled = true;
    error.textContent = "";
    const agentId = agents.current;
    const sent = addUser(content);
    input.value = "";
    const reply = addAssistant(agentId);
    let text = "";
    try {
      const meta = await api.chat({ content, agent_id: agentId, session_id: sessionId() }, (delta) => {
        text += delta;
        reply.body.innerHTML = renderMarkdown(text); // safe: renderMarkdown escapes all input
        log.scrollTop = log.scrollHeight;
      });
      const final = meta.content ?? text;
      reply.body.innerHTML = renderMarkdown(final);
      if (meta.agent_name) reply.who.textContent = meta.agent_name;
      const parts = [
        meta.tokens_used !== undefined ? `${meta.tokens_used} tokens` : "",
        meta.latency_ms !== undefined ? `${Math.round(meta.latency_ms)} ms` : "",
      ].filter(Boolean);
      reply.meta.textContent = parts.join(" · ");
      reply.root.dataset.done = "true";
    } catch (failure) {
      reply.root.remove();
      sent.remove(); // the text goes back into the box, so a retry does not show it twice
      error.textContent = failure instanceof ApiError ? failure.message : "Something went wrong sending the message. Try again.";
      if (!input.value) input.value = content; // let the user retry without retyping
    } finally {
      reply.root.setAttribute("aria-busy", "false");
      busy = false;
      send.disabled = false;
      input.focus();
    }
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void submit();
    }
  });
  reset.addEventListener("click", () => {
    newSession();
    log.replaceChildren();
    error.textContent = "";
    input.focus();
  });

  const Recognition = speechRecognition();
  if (!Recognition) {
    dictate.hidden = true;
  } else {
    let recognition: SpeechRecognitionLike | null = null;
    dictate.addEventListener("click", () => {
      if (recognition) {
        recognition.stop();
        return;
      }
      const base = input.value ? `${input.value.trimEnd()} ` : "";
      recognition = new Recognition();
      recognition.lang = navigator.language || "en-US";
      recognition.interimResults = true;
      recognition.continuous = false;
      recognition.onresult = (event) => {
        let heard = "";
        for (let i = 0; i < event.results.length; i++) heard += event.results[i]?.[0]?.transcript ?? "";
        input.value = base + heard;
      };
      recognition.onerror = (event) => {
        error.textContent =
          event.error === "not-allowed" ? "Dictation needs permission to use the microphone." : "Dictation is not available right now.";
      };
      recognition.onend = () => {
        recognition = null;
        dictate.setAttribute("aria-pressed", "false");
        dictate.textContent = "Dictate";
        input.focus();
      };
      dictate.setAttribute("aria-pressed", "true");
      dictate.textContent = "Stop dictation";
      recognition.start();
    });
  }
  return panel;
}
