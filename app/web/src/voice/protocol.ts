/**
 * The voice websocket protocol (SOP 10.2), checked at the edge so the UI only handles known shapes.
 * client -> server: audio, agent, cancel, consent; server -> client: agent_switched, transcription, audio,
 * stop_playback (barge-in), recording (answers consent), error. docs/voice-protocol.md has a typical sequence.
 */

export type Speaker = "user" | "assistant";
export type TranscriptStatus = "listening" | "processing" | "complete";

export type ServerMessage =
  | { type: "agent_switched"; agent_id: string }
  /** `text` is the whole line so far; `delta` (assistant "processing") is only what it just gained. */
  | { type: "transcription"; speaker: Speaker; status: TranscriptStatus; text: string; delta?: string }
  | { type: "audio"; data: string; format: string }
  | { type: "stop_playback" }
  /** Whether this session is being recorded now; `reason` says why not (not enabled, store failed). */
  | { type: "recording"; state: "on" | "off"; reason?: string }
  | { type: "error"; message: string };

export type ClientMessage =
  | { type: "audio"; data: string }
  | { type: "agent"; agent_id: string }
  | { type: "cancel" }
  /** Recording consent for this session: false withdraws it (recording stops at once). */
  | { type: "consent"; recording: boolean };

const SPEAKERS = new Set(["user", "assistant"]);
const STATUSES = new Set(["listening", "processing", "complete"]);

/** A server frame, or null when it is not one we understand (ignored, never shown raw). */
export function parseServerMessage(raw: unknown): ServerMessage | null {
  if (typeof raw !== "string") return null;
  let body: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(raw);
    if (!parsed || typeof parsed !== "object") return null;
    body = parsed as Record<string, unknown>;
  } catch {
    return null;
  }
  switch (body.type) {
    case "agent_switched":
      return typeof body.agent_id === "string" ? { type: "agent_switched", agent_id: body.agent_id } : null;
    case "transcription":
      if (typeof body.speaker !== "string" || !SPEAKERS.has(body.speaker)) return null;
      if (typeof body.status !== "string" || !STATUSES.has(body.status)) return null;
      return {
        type: "transcription",
        speaker: body.speaker as Speaker,
        status: body.status as TranscriptStatus,
        text: typeof body.text === "string" ? body.text : "",
        ...(typeof body.delta === "string" ? { delta: body.delta } : {}),
      };
    case "audio":
      return typeof body.data === "string"
        ? { type: "audio", data: body.data, format: typeof body.format === "string" ? body.format : "audio/pcm16" }
        : null;
    case "stop_playback":
      return { type: "stop_playback" };
    case "recording":
      if (body.state !== "on" && body.state !== "off") return null;
      return { type: "recording", state: body.state, ...(typeof body.reason === "string" ? { reason: body.reason } : {}) };
    case "error":
      return { type: "error", message: typeof body.message === "string" ? body.message : "The voice service reported an error." };
    default:
      return null;
  }
}

/** Barge-in: the user started speaking, so whatever the assistant is saying must stop now. */
export function isBargeIn(message: ServerMessage): boolean {
  if (message.type === "stop_playback") return true;
  return message.type === "transcription" && message.speaker === "user" && message.status === "listening";
}
