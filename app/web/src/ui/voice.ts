/**
 * Voice panel (/voice): a live conversation over the voice websocket. The microphone streams 40 ms
 * PCM16 frames; answers play through the jitter buffer and stop the moment the user speaks over
 * them (barge-in); both sides' transcripts appear live in an aria-live log.
 */
import { websocketProtocols, type Auth } from "../auth";
import { MicCapture } from "../audio/capture";
import { bytesToBase64, pcm16ToBytes } from "../audio/pcm";
import { PcmPlayer } from "../audio/player";
import { VoiceConnection, type ConnectionState } from "../voice/connection";
import { isBargeIn, type ServerMessage } from "../voice/protocol";
import { Transcript } from "../voice/transcript";
import { voiceSocketUrl } from "../urls";
import type { AgentStore } from "./agents";
import { agentPicker } from "./agents";
import { h } from "./dom";
import { recordingControl } from "./recording";

export interface VoicePanelDeps {
  auth: Auth;
  agents: AgentStore;
  wsBase: string;
  sessionId: () => string;
}

const STATE_TEXT: Record<ConnectionState, string> = {
  idle: "Not connected.",
  connecting: "Connecting…",
  open: "Connected. Speak when you are ready.",
  reconnecting: "Reconnecting…",
  closed: "Not connected.",
};

export interface VoicePanel {
  element: HTMLElement;
  /** The session id changed: a running conversation moves to the new one. */
  restart(): Promise<void>;
}

export function voicePanel({ auth, agents, wsBase, sessionId }: VoicePanelDeps): VoicePanel {
  const status = h("p", { id: "voice-status", class: "status", role: "status" }, STATE_TEXT.idle);
  const active = h("p", { id: "voice-agent", class: "active-agent", "aria-live": "polite" });
  const error = h("p", { id: "voice-error", class: "error", role: "alert" });
  const start = h("button", { type: "button", id: "voice-start" }, "Start conversation");
  const cancel = h("button", { type: "button", id: "voice-cancel", class: "secondary", disabled: true }, "Stop the answer");
  const transcriptLog = h("div", { id: "voice-transcript", class: "log transcript", role: "log", "aria-live": "polite", "aria-label": "Live transcript" });
  const audioStats = h("p", { id: "voice-audio", class: "muted", "data-received-ms": "0", "data-played-ms": "0" });

  const transcript = new Transcript();
  const lineElements = new Map<number, HTMLElement>();
  const mic = new MicCapture();
  let running = false;
  let micOn = false;

  const updateAudio = (): void => {
    audioStats.dataset.receivedMs = String(Math.round(player.receivedMs));
    audioStats.dataset.playedMs = String(Math.round(player.playedMs));
    audioStats.dataset.playing = String(player.playing);
    audioStats.textContent = player.receivedMs
      ? `Answer audio: ${(player.receivedMs / 1000).toFixed(1)} s received, ${(player.playedMs / 1000).toFixed(1)} s played${player.playing ? " (playing)" : ""}.`
      : "";
    cancel.disabled = !running;
  };
  const player = new PcmPlayer(updateAudio);

  const showActive = (): void => {
    const agent = agents.agent;
    active.textContent = agent ? `Talking with ${agent.name}${agent.title ? `, ${agent.title}` : ""}.` : "";
    if (agent) active.style.setProperty("--accent", agent.accent);
  };
  agents.subscribe(showActive);

  const renderLine = (id: number): void => {
    const line = transcript.lines.find((l) => l.id === id);
    if (!line) return;
    let element = lineElements.get(id);
    if (!element) {
      const who = line.speaker === "user" ? "You" : agents.name(agents.current);
      element = h("p", { class: `line ${line.speaker}`, "data-speaker": line.speaker }, h("span", { class: "speaker" }, `${who}: `), h("span", { class: "text" }));
      lineElements.set(id, element);
      transcriptLog.append(element);
    }
    const text = element.querySelector(".text");
    if (text) text.textContent = line.text || (line.speaker === "user" ? "(listening…)" : "…");
    element.dataset.final = String(line.final);
    transcriptLog.scrollTop = transcriptLog.scrollHeight;
  };

  const onMessage = (message: ServerMessage): void => {
    switch (message.type) {
      case "agent_switched":
        agents.set({ current: message.agent_id });
        connection.agentId = message.agent_id;
        break;
      case "transcription": {
        if (isBargeIn(message)) {
          player.stop();
          const interrupted = transcript.open("assistant");
          transcript.interrupt("assistant");
          if (interrupted) renderLine(interrupted.id);
        }
        renderLine(transcript.apply(message.speaker, message.status, message.text).id);
        break;
      }
      case "stop_playback": {
        player.stop();
        const interrupted = transcript.open("assistant");
        transcript.interrupt("assistant");
        if (interrupted) renderLine(interrupted.id);
        break;
      }
      case "audio":
        if (message.format === "audio/pcm16") player.enqueue(message.data);
        break;
      case "recording":
        recording.update(message);
        break;
      case "error":
        error.textContent = message.message;
        break;
    }
  };

  const connection = new VoiceConnection(
    (agentId) => voiceSocketUrl(wsBase, sessionId(), agentId ?? undefined),
    async () => websocketProtocols(await auth.token()),
    {
      state: (state, detail) => {
        status.textContent = detail ?? STATE_TEXT[state];
        status.dataset.state = state;
        if (state === "open") {
          error.textContent = "";
          recording.open();
          void startMic();
        } else {
          recording.closed();
        }
        if (state === "closed" && running) void stopAll(detail);
      },
      message: onMessage,
    },
  );

  const recording = recordingControl((message) => connection.send(message));

  const startMic = async (): Promise<void> => {
    if (micOn) return;
    micOn = true;
    try {
      await mic.start((frame) => {
        connection.send({ type: "audio", data: bytesToBase64(pcm16ToBytes(frame)) });
      });
    } catch (failure) {
      micOn = false;
      const name = (failure as Error).name;
      error.textContent =
        name === "NotAllowedError"
          ? "Voice needs permission to use the microphone."
          : name === "NotFoundError"
            ? "No microphone was found."
            : "The microphone could not be started.";
      await stopAll();
    }
  };

  const stopAll = async (detail?: string): Promise<void> => {
    running = false;
    start.textContent = "Start conversation";
    start.setAttribute("aria-pressed", "false");
    connection.close();
    recording.reset();
    if (detail) status.textContent = detail;
    micOn = false;
    for (const id of transcript.end()) {
      lineElements.get(id)?.remove();
      lineElements.delete(id);
    }
    for (const line of transcript.lines) lineElements.get(line.id)?.setAttribute("data-final", "true");
    await mic.stop();
    player.stop();
    updateAudio();
  };

  start.setAttribute("aria-pressed", "false");
  start.addEventListener("click", () => {
    if (running) {
      void stopAll();
      return;
    }
    running = true;
    error.textContent = "";
    start.textContent = "End conversation";
    start.setAttribute("aria-pressed", "true");
    connection.agentId = agents.current;
    updateAudio();
    // Audio output is created inside the click, so autoplay rules let the answer play.
    void player.ready().then(() => connection.connect());
  });

  cancel.addEventListener("click", () => {
    connection.send({ type: "cancel" });
    player.stop();
    const open = transcript.open("assistant");
    transcript.interrupt("assistant");
    if (open) renderLine(open.id);
  });

  const picker = agentPicker(agents, "Agent", (id) => {
    agents.set({ current: id });
    if (running) connection.selectAgent(id);
  });

  const element = h(
    "section",
    { class: "panel", id: "voice-panel", "aria-labelledby": "voice-title" },
    h("div", { class: "panel-head" }, h("h1", { id: "voice-title", tabindex: "-1" }, "Voice")),
    picker,
    active,
    h("div", { class: "actions" }, start, cancel),
    recording.element,
    status,
    error,
    h("h2", { class: "subhead" }, "Transcript"),
    transcriptLog,
    audioStats,
  );
  showActive();

  return {
    element,
    async restart() {
      transcript.lines.length = 0;
      lineElements.clear();
      transcriptLog.replaceChildren();
      if (running) {
        await stopAll();
        start.click();
      }
    },
  };
}
