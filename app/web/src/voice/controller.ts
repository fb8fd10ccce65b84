/**
 * One live voice conversation, independent of any page: the microphone, the answer's playback, the
 * websocket (with its automatic resume) and the transcript. The voice page, the global live
 * indicator and the chat history all render from its events, so the microphone can never be live
 * without something on screen saying so.
 *
 * Phases: off -> starting (microphone) -> connecting -> listening <-> hearing (the user speaks)
 * -> thinking -> speaking -> listening; reconnecting while the socket is being restored.
 * Extension points for other modules: `gates` run before a conversation starts (a consent prompt
 * returns false to stay off); `subscribe` sees every event (a recording indicator).
 */
import { bytesToBase64, pcm16ToBytes } from "../audio/pcm";
import type { AgentStore } from "../ui/agents";
import { voiceClosedText, voiceServerText } from "../wording";
import { VoiceConnection, type ConnectionOptions, type ConnectionState, type StateInfo } from "./connection";
import { isBargeIn, type ServerMessage } from "./protocol";
import { Transcript, type TranscriptLine } from "./transcript";

export type VoicePhase = "off" | "starting" | "connecting" | "listening" | "hearing" | "thinking" | "speaking" | "reconnecting";

export interface VoiceLine extends TranscriptLine {
  agentId: string;
}

export type VoiceEvent =
  | { kind: "phase"; phase: VoicePhase; text: string }
  | { kind: "line"; line: VoiceLine }
  | { kind: "removed"; id: number }
  | { kind: "error"; text: string }
  | { kind: "muted"; muted: boolean }
  | { kind: "audio" }
  /** The socket opened (true) or went (false): a consent prompt asks again on a new socket. */
  | { kind: "link"; open: boolean }
  /** The server's answer to a recording consent (or a store failure mid-session). */
  | { kind: "recording"; message: Extract<ServerMessage, { type: "recording" }> };

/** The microphone and the speaker, as the controller needs them (real ones in ui/, fakes in tests). */
export interface Microphone {
  muted: boolean;
  start(onFrame: (frame: Int16Array) => void): Promise<void>;
  stop(): Promise<void>;
}

export interface Speaker {
  readonly receivedMs: number;
  readonly playedMs: number;
  readonly playing: boolean;
  ready(): Promise<void>;
  enqueue(base64: string): void;
  stop(): void;
}

export interface VoiceControllerDeps {
  agents: AgentStore;
  url: (agentId: string | null) => string;
  protocols: () => Promise<string[]>;
  mic: Microphone;
  /** Built with the controller's own change callback (playback started or ended). */
  speaker: (onChange: () => void) => Speaker;
  connection?: ConnectionOptions;
}

/** A gate before a conversation starts: resolve false to keep voice off (e.g. consent refused). */
export type StartGate = () => Promise<boolean>;

function micFailure(failure: unknown): string {
  const name = (failure as Error | null)?.name;
  if (name === "NotAllowedError") return "Voice needs the microphone. Allow it in the browser's address bar, then start again.";
  if (name === "NotFoundError") return "No microphone was found. Connect one, then start again.";
  return "The microphone could not be started. Check that no other app is using it, then start again.";
}

export class VoiceController {
  readonly transcript = new Transcript();
  readonly gates: StartGate[] = [];
  readonly connection: VoiceConnection;
  private readonly speaker: Speaker;
  private readonly listeners = new Set<(event: VoiceEvent) => void>();
  private readonly lineAgents = new Map<number, string>();
  private running = false;
  private phaseNow: VoicePhase = "off";
  /** Audio counters when the current answer began, to tell how much of it was heard. */
  private answerMark: { received: number; played: number } | null = null;

  constructor(private readonly deps: VoiceControllerDeps) {
    this.speaker = deps.speaker(() => this.onPlayback());
    this.connection = new VoiceConnection(deps.url, deps.protocols, {
      state: (state, info) => this.onState(state, info),
      message: (message) => this.onMessage(message),
    }, deps.connection);
  }

  get live(): boolean {
    return this.running;
  }

  get phase(): VoicePhase {
    return this.phaseNow;
  }

  get muted(): boolean {
    return this.deps.mic.muted;
  }

  /** Received/played answer audio (milliseconds), for tests and diagnostics; never shown. */
  get audio(): { receivedMs: number; playedMs: number; playing: boolean } {
    return { receivedMs: this.speaker.receivedMs, playedMs: this.speaker.playedMs, playing: this.speaker.playing };
  }

  subscribe(listener: (event: VoiceEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: VoiceEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private setPhase(phase: VoicePhase, text?: string): void {
    this.phaseNow = phase;
    this.emit({ kind: "phase", phase, text: text ?? this.phaseText(phase) });
  }

  private phaseText(phase: VoicePhase): string {
    const agent = this.deps.agents.name(this.deps.agents.current);
    switch (phase) {
      case "starting":
        return "Starting the microphone…";
      case "connecting":
        return "Connecting…";
      case "listening":
        return this.muted ? "Muted. Unmute to talk." : "Listening. Speak when you are ready.";
      case "hearing":
        return "Hearing you…";
      case "thinking":
        return `${agent} is thinking…`;
      case "speaking":
        return `${agent} is speaking. Talk over it or stop the answer to interrupt.`;
      case "reconnecting":
        return "Reconnecting…";
      default:
        return "Not connected.";
    }
  }

  /** Start a conversation. Call from the click: audio output must be created in the gesture. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const ready = this.speaker.ready();
    for (const gate of this.gates) {
      if (!(await gate())) {
        this.running = false;
        this.setPhase("off");
        return;
      }
    }
    this.setPhase("starting");
    try {
      await ready;
      // The microphone first: nothing connects (and nothing is recorded) until it is granted.
      await this.deps.mic.start((frame) => {
        this.connection.send({ type: "audio", data: bytesToBase64(pcm16ToBytes(frame)) });
      });
    } catch (failure) {
      await this.stopAll(micFailure(failure));
      this.emit({ kind: "error", text: micFailure(failure) });
      return;
    }
    if (!this.running) return; // ended while the permission prompt was open
    this.connection.agentId = this.deps.agents.current;
    await this.connection.connect();
  }

  /** End the conversation (the microphone goes off). */
  async end(): Promise<void> {
    if (!this.running) return;
    await this.stopAll();
  }

  setMuted(muted: boolean): void {
    if (!this.running) return;
    this.deps.mic.muted = muted;
    this.emit({ kind: "muted", muted });
    if (this.phaseNow === "listening") this.setPhase("listening");
  }

  /** Stop the answer being spoken (the server cancels it; what was not heard is not shown). */
  cancelAnswer(): void {
    this.connection.send({ type: "cancel" });
    this.interrupt();
    if (this.running) this.setPhase("listening");
  }

  selectAgent(agentId: string): void {
    if (this.running) this.connection.selectAgent(agentId);
  }

  /** A new session (New conversation, sign-in or sign-out): the transcript goes, voice ends. */
  async reset(): Promise<void> {
    // Nothing of the old conversation may be emitted again (it would land in the new one's chat).
    const lines = [...this.transcript.lines];
    this.transcript.clear();
    this.lineAgents.clear();
    for (const line of lines) this.emit({ kind: "removed", id: line.id });
    await this.end();
  }

  private async stopAll(reason?: string): Promise<void> {
    this.running = false;
    this.connection.close();
    for (const id of this.transcript.end()) this.emit({ kind: "removed", id });
    for (const line of this.transcript.lines) this.emitLine(line);
    this.deps.mic.muted = false;
    await this.deps.mic.stop();
    this.speaker.stop();
    this.answerMark = null;
    this.emit({ kind: "muted", muted: false });
    this.setPhase("off", reason ?? "Not connected.");
  }

  private onState(state: ConnectionState, info?: StateInfo): void {
    this.emit({ kind: "link", open: state === "open" });
    if (state === "open") {
      this.setPhase("listening");
    } else if (state === "reconnecting" && info) {
      this.interrupt(); // the answer in flight is lost with the socket
      this.setPhase("reconnecting", voiceClosedText(info));
    } else if (state === "connecting") {
      this.setPhase("connecting");
    } else if (state === "closed" && this.running) {
      void this.stopAll(voiceClosedText(info));
    }
  }

  private emitLine(line: TranscriptLine): void {
    if (!this.lineAgents.has(line.id)) this.lineAgents.set(line.id, this.deps.agents.current);
    this.emit({ kind: "line", line: { ...line, agentId: this.lineAgents.get(line.id) ?? this.deps.agents.current } });
  }

  /** Cut the answer being heard: playback stops, the line keeps only what was played. */
  private interrupt(): void {
    const mark = this.answerMark;
    const received = mark ? this.speaker.receivedMs - mark.received : 0;
    const heard = received > 0 && mark ? (this.speaker.playedMs - mark.played) / received : 1;
    const wasPlaying = this.speaker.playing;
    this.speaker.stop();
    this.answerMark = null;
    let line = this.transcript.interrupt(heard);
    if (!line && wasPlaying) line = this.transcript.interruptLast(heard);
    if (line) this.emitLine(line);
  }

  private onMessage(message: ServerMessage): void {
    switch (message.type) {
      case "agent_switched":
        this.deps.agents.set({ current: message.agent_id });
        this.connection.agentId = message.agent_id;
        break;
      case "transcription": {
        if (isBargeIn(message)) this.interrupt();
        const line = this.transcript.apply(message.speaker, message.status, message.text);
        if (!line) break; // a word of the answer that was cut off
        if (message.speaker === "assistant" && !this.answerMark) this.markAnswer();
        this.emitLine(line);
        if (message.speaker === "user") this.setPhase(message.status === "listening" ? "hearing" : "thinking");
        else if (message.status === "complete" && !this.speaker.playing) this.setPhase("listening");
        break;
      }
      case "stop_playback":
        this.interrupt();
        break;
      case "audio":
        if (message.format !== "audio/pcm16" || this.transcript.dropping) break; // leftovers of a cancelled answer
        if (!this.answerMark) this.markAnswer();
        this.speaker.enqueue(message.data);
        break;
      case "error":
        this.emit({ kind: "error", text: voiceServerText(message.message) });
        break;
      case "recording":
        this.emit({ kind: "recording", message });
        break;
    }
  }

  private markAnswer(): void {
    this.answerMark = { received: this.speaker.receivedMs, played: this.speaker.playedMs };
  }

  private onPlayback(): void {
    this.emit({ kind: "audio" });
    if (!this.running) return;
    if (this.speaker.playing && this.phaseNow !== "speaking" && this.phaseNow !== "hearing") this.setPhase("speaking");
    else if (!this.speaker.playing && this.phaseNow === "speaking") this.setPhase("listening");
  }
}
