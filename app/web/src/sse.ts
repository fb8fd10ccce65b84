/**
 * Server-Sent Events over a fetch() body (EventSource cannot POST or send an Authorization header).
 * `SseParser` follows the WHATWG event-stream rules: any line ending, comments, multi-line data,
 * events split anywhere across network chunks.
 */

export interface SseEvent {
  event: string;
  data: string;
  id?: string;
}

export class SseParser {
  private buffer = "";
  private data: string[] = [];
  private eventName = "";
  private lastId: string | undefined;
  private pendingCR = false;

  /** Feed decoded text; returns the events completed by it. */
  push(chunk: string): SseEvent[] {
    let text = chunk;
    if (this.pendingCR) {
      // A "\r\n" split across chunks: the "\r" already ended the line.
      if (text.startsWith("\n")) text = text.slice(1);
      this.pendingCR = false;
    }
    this.buffer += text;
    const out: SseEvent[] = [];
    for (;;) {
      const match = /\r\n|\r|\n/.exec(this.buffer);
      if (!match) break;
      if (match[0] === "\r" && match.index === this.buffer.length - 1) {
        this.pendingCR = true;
      }
      const line = this.buffer.slice(0, match.index);
      this.buffer = this.buffer.slice(match.index + match[0].length);
      const event = this.line(line);
      if (event) out.push(event);
    }
    return out;
  }

  /** The stream ended: an unterminated event is discarded, as the spec says. */
  end(): SseEvent[] {
    this.buffer = "";
    this.data = [];
    this.eventName = "";
    return [];
  }

  private line(line: string): SseEvent | null {
    if (line === "") return this.dispatch();
    if (line.startsWith(":")) return null;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.eventName = value;
    else if (field === "id" && !value.includes("\0")) this.lastId = value;
    return null;
  }

  private dispatch(): SseEvent | null {
    if (this.data.length === 0) {
      this.eventName = "";
      return null;
    }
    const event: SseEvent = { event: this.eventName || "message", data: this.data.join("\n") };
    if (this.lastId !== undefined) event.id = this.lastId;
    this.data = [];
    this.eventName = "";
    return event;
  }
}

export interface ChatMetadata {
  message_id?: string;
  session_id?: string;
  agent_id?: string;
  agent_name?: string;
  content?: string;
  timestamp?: string;
  tokens_used?: number;
  latency_ms?: number;
}

export type ChatStreamItem =
  | { kind: "delta"; text: string }
  | { kind: "done"; meta: ChatMetadata }
  | { kind: "error"; message: string; status?: number };

const DONE_NAMES = new Set(["done", "end", "final", "complete", "metadata"]);

/**
 * What one event of `POST /api/v1/chat/stream` means: a text delta, the closing metadata (the same
 * fields as `POST /api/v1/chat`), or an error. Unknown events are ignored (null).
 */
export function interpretChatEvent(event: SseEvent): ChatStreamItem | null {
  if (event.data === "[DONE]") return null;
  let payload: unknown;
  try {
    payload = JSON.parse(event.data);
  } catch {
    if (event.event === "error") return { kind: "error", message: event.data };
    return event.event === "message" || event.event === "delta" ? { kind: "delta", text: event.data } : null;
  }
  if (typeof payload === "string") {
    return event.event === "error" ? { kind: "error", message: payload } : { kind: "delta", text: payload };
  }
  if (!payload || typeof payload !== "object") return null;
  const body = payload as Record<string, unknown>;
  const type = typeof body.type === "string" ? body.type : event.event;
  if (type === "error" || event.event === "error") {
    const message = body.message ?? body.detail ?? "the chat stream failed";
    const item: ChatStreamItem = { kind: "error", message: typeof message === "string" ? message : "the chat stream failed" };
    if (typeof body.status === "number") item.status = body.status;
    return item;
  }
  if (DONE_NAMES.has(type) || DONE_NAMES.has(event.event)) {
    return { kind: "done", meta: body as ChatMetadata };
  }
  const text = body.delta ?? body.content ?? body.text;
  return typeof text === "string" ? { kind: "delta", text } : null;
}
