/**
 * Voice panel (/voice): starts and ends the conversation, shows its phase (listening, hearing you,
 * thinking, speaking, reconnecting) and the live transcript. All the work is in VoiceController;
 * this only renders its events, so other modules (a consent prompt, a recording indicator) can add
 * themselves through `controller.gates` and `controller.subscribe` and the `extras` slot here.
 */
import type { VoiceController, VoiceLine, VoicePhase } from "../voice/controller";
import type { Announcer } from "./announcer";
import type { AgentStore } from "./agents";
import { agentPicker } from "./agents";
import { h } from "./dom";
import { recordingControl } from "./recording";

export interface VoicePanelDeps {
  controller: VoiceController;
  agents: AgentStore;
  announcer: Announcer;
}

export interface VoicePanel {
  element: HTMLElement;
  /** Where another module puts its own voice-page UI (above the controls). */
  extras: HTMLElement;
}

/** The connection states the `data-state` attribute reports (kept for tests and styling). */
function stateOf(phase: VoicePhase): string {
  if (phase === "off") return "closed";
  if (phase === "starting" || phase === "connecting") return "connecting";
  if (phase === "reconnecting") return "reconnecting";
  return "open";
}

/** Phases worth saying out loud: the conversation's state, not each turn's. */
const ANNOUNCED = new Set<VoicePhase>(["off", "reconnecting"]);

export function voicePanel({ controller, agents, announcer }: VoicePanelDeps): VoicePanel {
  // Not a live region: "hearing you / thinking / speaking" change every turn and would talk over the
  // conversation. What a listener needs (connected, reconnecting, ended and why) goes to the announcer.
  const status = h("p", { id: "voice-status", class: "status", "data-state": "closed", "data-phase": "off" }, "Not connected.");
  const active = h("p", { id: "voice-agent", class: "active-agent" });
  const error = h("p", { id: "voice-error", class: "error", role: "alert" });
  const start = h("button", { type: "button", id: "voice-start" }, "Start conversation");
  const mute = h("button", { type: "button", id: "voice-mute", class: "secondary", hidden: true }, "Mute");
  const cancel = h("button", { type: "button", id: "voice-cancel", class: "secondary", disabled: true }, "Stop the answer");
  const transcriptLog = h("div", {
    id: "voice-transcript",
    class: "log transcript",
    role: "log",
    // Not live: the answer is heard, and a line rewritten per word would be read out per word.
    "aria-live": "off",
    "aria-labelledby": "voice-transcript-title",
    tabindex: "0",
  });
  // Playback counters for tests and support (never shown: no diagnostics for users).
  const audioStats = h("div", { id: "voice-audio", hidden: true, "data-received-ms": "0", "data-played-ms": "0", "data-playing": "false" });
  const extras = h("div", { class: "voice-extras" });
  const lineElements = new Map<number, HTMLElement>();

  const showActive = (): void => {
    const agent = agents.agent;
    active.textContent = agent ? `Talking with ${agent.name}${agent.title ? `, ${agent.title}` : ""}.` : "";
    if (agent) active.style.setProperty("--accent", agent.accent);
  };
  agents.subscribe(showActive);

  const renderLine = (line: VoiceLine): void => {
    let element = lineElements.get(line.id);
    if (!element) {
      const who = line.speaker === "user" ? "You" : agents.name(line.agentId);
      element = h("p", { class: `line ${line.speaker}`, "data-speaker": line.speaker }, h("span", { class: "speaker" }, `${who}: `), h("span", { class: "text" }), h("span", { class: "mark" }));
      lineElements.set(line.id, element);
      transcriptLog.append(element);
    }
    const text = element.querySelector(".text");
    if (text) text.textContent = line.text || (line.final ? "" : line.speaker === "user" ? "(listening…)" : "…");
    const mark = element.querySelector(".mark");
    if (mark) mark.textContent = line.interrupted ? (line.text ? " — interrupted" : "(interrupted before it was said)") : "";
    element.dataset.final = String(line.final);
    if (line.interrupted) element.dataset.interrupted = "true";
    transcriptLog.scrollTop = transcriptLog.scrollHeight;
  };

  let previous: VoicePhase = "off";
  const renderPhase = (phase: VoicePhase, text: string): void => {
    if (ANNOUNCED.has(phase) && phase !== previous) announcer.say(text);
    else if (phase === "listening" && (previous === "connecting" || previous === "reconnecting")) {
      announcer.say(previous === "reconnecting" ? "Reconnected. Listening." : "Connected. Listening. Speak when you are ready.");
    }
    previous = phase;
    status.textContent = text;
    status.dataset.phase = phase;
    status.dataset.state = stateOf(phase);
    const live = phase !== "off";
    start.textContent = live ? "End conversation" : "Start conversation";
    mute.hidden = !live || phase === "starting";
    cancel.disabled = !live;
    if (phase === "reconnecting") error.textContent = "";
  };

  // Recording consent (issue 16): its own module; it hears the socket and the server's answers.
  const recording = recordingControl((message) => controller.connection.send(message));

  controller.subscribe((event) => {
    switch (event.kind) {
      case "phase":
        renderPhase(event.phase, event.text);
        if (event.phase === "off") recording.reset();
        break;
      case "link":
        if (event.open) recording.open();
        else recording.closed();
        break;
      case "line":
        renderLine(event.line);
        break;
      case "removed":
        lineElements.get(event.id)?.remove();
        lineElements.delete(event.id);
        break;
      case "recording":
        recording.update(event.message);
        break;
      case "error":
        error.textContent = event.text;
        break;
      case "muted":
        mute.textContent = event.muted ? "Unmute" : "Mute";
        break;
      case "audio": {
        const audio = controller.audio;
        audioStats.dataset.receivedMs = String(Math.round(audio.receivedMs));
        audioStats.dataset.playedMs = String(Math.round(audio.playedMs));
        audioStats.dataset.playing = String(audio.playing);
        break;
      }
    }
  });

  start.addEventListener("click", () => {
    if (controller.live) {
      void controller.end();
      return;
    }
    error.textContent = "";
    void controller.start();
  });
  mute.addEventListener("click", () => controller.setMuted(!controller.muted));
  cancel.addEventListener("click", () => controller.cancelAnswer());

  const picker = agentPicker(agents, "Agent", (id) => {
    agents.set({ current: id });
    controller.selectAgent(id);
  });

  const element = h(
    "section",
    { class: "panel voice", id: "voice-panel", "aria-labelledby": "voice-title" },
    h("div", { class: "panel-head" }, h("h1", { id: "voice-title", tabindex: "-1" }, "Voice")),
    picker,
    active,
    extras,
    h("div", { class: "actions voice-actions" }, start, mute, cancel),
    recording.element,
    status,
    error,
    h("h2", { class: "subhead", id: "voice-transcript-title" }, "Transcript"),
    transcriptLog,
    audioStats,
  );
  showActive();
  return { element, extras };
}
