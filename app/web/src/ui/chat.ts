/**
 * Chat panel: pick an agent, type a message, watch the answer stream in as sanitized markdown.
 * The conversation log is the page's one scroll area and the message box stays pinned below it.
 * A sent message shows at once with a pending answer ("Elena is thinking…"); Stop or Escape aborts
 * the request (the server then stores nothing of that exchange). Voice turns of the same session
 * appear here too, and a reload redraws the stored conversation.
 */
import { ApiError, type Api, type EpisodeTurn } from "../api";
import type { DictationPolicy } from "../config";
import { renderMarkdown } from "../markdown";
import type { VoiceLine } from "../voice/controller";
import type { Announcer } from "./announcer";
import type { AgentStore } from "./agents";
import { agentPicker } from "./agents";
import type { KeyPolicy } from "./device";
import { dictation } from "./dictation";
import { h } from "./dom";
import { emptyState } from "./empty";

export const DRAFT_KEY = "engram_draft";
/** After this long without a word of the answer, the pending line says it is still working. */
const SLOW_MS = 8_000;
/** How long "New conversation" can be undone. */
const UNDO_MS = 15_000;
/** Answers sit under the page's h1 and the log's h2. */
const ANSWER_HEADING_LEVEL = 3;

export interface ChatPanelDeps {
  api: Api;
  agents: AgentStore;
  announcer: Announcer;
  keys: KeyPolicy;
  dictation: DictationPolicy;
  storage: Pick<Storage, "getItem" | "setItem" | "removeItem">;
  sessionId: () => string;
  /** Start a new session; returns a function that goes back to the previous one. */
  newSession: () => () => void;
}

export interface ChatPanel {
  element: HTMLElement;
  /** Draw the stored conversation (after a reload or a sign-in redirect). */
  restore(turns: EpisodeTurn[]): void;
  /** Empty the screen (sign-in, sign-out): nothing of the previous conversation stays. */
  clear(): void;
  /** A voice turn became final (or was cut): show it in the history. */
  voiceLine(line: VoiceLine): void;
  removeVoiceLine(id: number): void;
  /** Stop the answer being written, if any (true when there was one). */
  stop(): boolean;
}

export function chatPanel(deps: ChatPanelDeps): ChatPanel {
  const { api, agents, announcer, keys, storage, sessionId } = deps;
  const log = h("div", {
    id: "chat-log",
    class: "log",
    role: "log",
    // Not live: a streamed answer would be read out per token. The announcer says it once.
    "aria-live": "off",
    "aria-labelledby": "chat-log-title",
    tabindex: "0",
  });
  const notice = h("div", { id: "chat-notice", class: "notice", role: "status" });
  const error = h("p", { id: "chat-error", class: "error", role: "alert" });
  const input = h("textarea", {
    id: "chat-input",
    name: "message",
    rows: "2",
    required: true,
    "aria-describedby": "chat-hint",
    enterkeyhint: keys.enterSends ? "send" : "enter",
  });
  const send = h("button", { type: "submit", id: "chat-send" }, "Send");
  const stopButton = h("button", { type: "button", id: "chat-stop", class: "stop", hidden: true }, "Stop");
  const reset = h("button", { type: "button", id: "chat-new", class: "secondary" }, "New conversation");
  const dictate = dictation(deps.dictation, input, (text) => (error.textContent = text));
  const form = h(
    "form",
    { class: "composer", "aria-label": "Send a message" },
    h("label", { for: "chat-input" }, "Message"),
    input,
    h("div", { class: "composer-foot" }, h("p", { id: "chat-hint", class: "hint" }, keys.hint), h("div", { class: "actions" }, dictate.button, stopButton, send)),
    dictate.note,
  );
  const picker = agentPicker(agents, "Agent", (id) => agents.set({ current: id }));
  const element = h(
    "section",
    { class: "panel chat", id: "chat-panel", "aria-labelledby": "chat-title" },
    h("div", { class: "panel-head" }, h("h1", { id: "chat-title", tabindex: "-1" }, "Chat"), reset),
    picker,
    h("h2", { id: "chat-log-title", class: "visually-hidden" }, "Conversation"),
    log,
    notice,
    error,
    form,
  );

  let controller: AbortController | null = null;
  const voiceElements = new Map<number, HTMLElement>();

  const nearBottom = (): boolean => log.scrollHeight - log.scrollTop - log.clientHeight < 48;
  const toBottom = (): void => {
    log.scrollTop = log.scrollHeight;
  };

  const showEmpty = (): void => {
    const hasMessages = log.querySelector(".message") !== null;
    log.querySelector(".empty")?.remove();
    if (!hasMessages) log.prepend(emptyState(agents.agent, (text) => void submit(text)));
  };
  agents.subscribe(showEmpty);

  const userMessage = (text: string, channel: "chat" | "voice" = "chat"): HTMLElement =>
    h(
      "div",
      { class: `message user${channel === "voice" ? " voice" : ""}`, "data-channel": channel },
      h("p", { class: "who" }, "You", channel === "voice" ? h("span", { class: "channel" }, " (voice)") : null),
      h("p", { class: "body" }, text),
    );

  const assistantMessage = (
    agentId: string,
    channel: "chat" | "voice" = "chat",
  ): { root: HTMLElement; who: HTMLElement; body: HTMLElement; meta: HTMLElement } => {
    const agent = agents.agents.find((a) => a.id === agentId);
    const who = h("p", { class: "who" }, agent?.name ?? agentId);
    const body = h("div", { class: "body markdown" });
    const meta = h("p", { class: "meta muted" });
    const root = h(
      "div",
      { class: `message assistant${channel === "voice" ? " voice" : ""}`, "data-agent": agentId, "data-channel": channel },
      h("div", { class: "who-line" }, who, channel === "voice" ? h("span", { class: "channel muted" }, "(voice)") : null),
      body,
      meta,
    );
    root.style.setProperty("--accent", agent?.accent ?? "#4a5568");
    return { root, who, body, meta };
  };

  const append = (node: HTMLElement): void => {
    log.querySelector(".empty")?.remove();
    log.append(node);
  };

  const setBusy = (busy: boolean): void => {
    send.hidden = busy;
    stopButton.hidden = !busy;
    reset.disabled = busy;
  };

  let undoTimer: ReturnType<typeof setTimeout> | null = null;
  const clearNotice = (): void => {
    if (undoTimer !== null) clearTimeout(undoTimer);
    undoTimer = null;
    notice.replaceChildren();
  };

  async function submit(text?: string): Promise<void> {
    const content = (text ?? input.value).trim();
    if (!content || controller) return;
    clearNotice();
    error.textContent = "";
    const agentId = agents.current;
    const agentName = agents.name(agentId);
    const sent = userMessage(content);
    append(sent);
    if (text === undefined) input.value = "";
    // Kept until the exchange ends: a sign-in redirect while fetching a token must not lose it.
    storage.setItem(DRAFT_KEY, content);
    const reply = assistantMessage(agentId);
    reply.root.setAttribute("aria-busy", "true");
    const pending = h("p", { class: "pending" }, `${agentName} is thinking…`);
    reply.body.append(pending);
    append(reply.root);
    toBottom();
    announcer.say(`Sent. ${agentName} is answering.`);
    const abort = new AbortController();
    controller = abort;
    setBusy(true);
    const slow = setTimeout(() => {
      pending.textContent = `${agentName} is still working on it… Press Stop (or Escape) to cancel.`;
    }, SLOW_MS);
    let streamed = "";
    try {
      const meta = await api.chat(
        { content, agent_id: agentId, session_id: sessionId() },
        (delta) => {
          const stick = nearBottom();
          streamed += delta;
          reply.body.innerHTML = renderMarkdown(streamed, { topLevel: ANSWER_HEADING_LEVEL }); // safe: escapes all input
          if (stick) toBottom();
        },
        abort.signal,
      );
      const final = meta.content ?? streamed;
      reply.body.innerHTML = renderMarkdown(final, { topLevel: ANSWER_HEADING_LEVEL });
      if (meta.agent_name) reply.who.textContent = meta.agent_name;
      if (meta.tokens_used !== undefined) reply.root.dataset.tokens = String(meta.tokens_used);
      reply.root.dataset.done = "true";
      storage.removeItem(DRAFT_KEY);
      announcer.say(`${reply.who.textContent}: ${reply.body.textContent ?? ""}`);
    } catch (failure) {
      if (abort.signal.aborted) {
        // Stopped: what arrived stays visible, marked; the server keeps nothing of this exchange.
        pending.remove();
        if (!streamed) reply.body.replaceChildren(h("p", { class: "muted" }, "No answer: you stopped it."));
        reply.meta.textContent = "Stopped. This exchange was not saved; send it again to get a full answer.";
        reply.root.dataset.stopped = "true";
        sent.dataset.stopped = "true";
        storage.removeItem(DRAFT_KEY);
        announcer.say("Stopped.");
      } else {
        reply.root.remove();
        sent.remove(); // the text goes back into the box, so a retry does not show it twice
        showEmpty();
        error.textContent = failure instanceof ApiError ? failure.message : "Something went wrong sending the message. Try again.";
        if (!input.value) input.value = content; // let the user retry without retyping
      }
    } finally {
      clearTimeout(slow);
      reply.root.setAttribute("aria-busy", "false");
      controller = null;
      setBusy(false);
      if (!element.hidden) input.focus();
    }
  }

  const stop = (): boolean => {
    if (!controller) return false;
    controller.abort();
    return true;
  };

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void submit();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && keys.enterSends && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void submit();
    }
  });
  input.addEventListener("input", () => storage.setItem(DRAFT_KEY, input.value));
  element.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && stop()) event.preventDefault();
  });
  stopButton.addEventListener("click", () => {
    stop();
    input.focus();
  });

  const clear = (): void => {
    stop();
    clearNotice();
    log.replaceChildren();
    voiceElements.clear();
    error.textContent = "";
    showEmpty();
  };

  reset.addEventListener("click", () => {
    const saved = [...log.childNodes];
    const savedVoice = new Map(voiceElements);
    const undo = deps.newSession();
    clear();
    const undoButton = h("button", { type: "button", class: "secondary", id: "chat-undo" }, "Undo");
    undoButton.addEventListener("click", () => {
      undo();
      clearNotice();
      log.replaceChildren(...saved);
      for (const [id, node] of savedVoice) voiceElements.set(id, node);
      announcer.say("The previous conversation is back.");
      input.focus();
      toBottom();
    });
    notice.replaceChildren(h("span", {}, "New conversation started. "), undoButton);
    undoTimer = setTimeout(clearNotice, UNDO_MS);
    input.focus();
  });

  const restore = (turns: EpisodeTurn[]): void => {
    if (log.querySelector(".message")) return; // something was already said in this page
    for (const turn of turns) {
      if (turn.role === "user") {
        append(userMessage(turn.content, turn.channel));
      } else {
        const reply = assistantMessage(turn.agentId, turn.channel);
        reply.body.innerHTML = renderMarkdown(turn.content, { topLevel: ANSWER_HEADING_LEVEL });
        reply.root.dataset.done = "true";
        reply.root.dataset.restored = "true";
        append(reply.root);
      }
    }
    if (turns.length) {
      toBottom();
      announcer.say(`The conversation so far is back: ${turns.length} ${turns.length === 1 ? "message" : "messages"}.`);
    }
  };

  const voiceLine = (line: VoiceLine): void => {
    if (!line.final || (!line.text && !line.interrupted)) return;
    let node = voiceElements.get(line.id);
    const fresh = !node;
    if (line.speaker === "user") {
      const next = userMessage(line.text, "voice");
      if (node) node.replaceWith(next);
      node = next;
    } else {
      const reply = assistantMessage(line.agentId, "voice");
      reply.body.innerHTML = line.text ? renderMarkdown(line.text, { topLevel: ANSWER_HEADING_LEVEL }) : "";
      if (line.interrupted) reply.meta.textContent = line.text ? "Interrupted: this is what was said before it stopped." : "Interrupted before it was said.";
      reply.root.dataset.done = "true";
      if (node) node.replaceWith(reply.root);
      node = reply.root;
    }
    node.dataset.voiceLine = String(line.id);
    if (line.interrupted) node.dataset.interrupted = "true";
    voiceElements.set(line.id, node);
    if (fresh) {
      const stick = nearBottom();
      append(node);
      if (stick) toBottom();
    }
  };

  const removeVoiceLine = (id: number): void => {
    voiceElements.get(id)?.remove();
    voiceElements.delete(id);
  };

  const draft = storage.getItem(DRAFT_KEY);
  if (draft) input.value = draft;
  showEmpty();
  return { element, restore, clear, voiceLine, removeVoiceLine, stop };
}
