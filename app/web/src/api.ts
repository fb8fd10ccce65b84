/**
 * The HTTP side of the service: agents and chat. Errors become one sentence a user can act on
 * (`friendlyError`), never a status code or a stack trace.
 */
import { authHeaders, claimsChallenge, type Auth } from "./auth";
import { SseParser, interpretChatEvent, type ChatMetadata } from "./sse";
import { apiUrl } from "./urls";
import { rejectedMessage, tryAgainIn } from "./wording";

export interface Agent {
  id: string;
  name: string;
  title: string;
  accent: string;
  /** What the agent knows about (the catalogue's `expertise`), for the empty state. */
  expertise: string[];
}

/** One stored turn of the session's episode (chat and voice, in order). */
export interface EpisodeTurn {
  role: "user" | "assistant";
  content: string;
  agentId: string;
  channel: "chat" | "voice";
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

type Area = "chat" | "agents" | "memory";

/** One plain sentence for a failed call; `detail` is the server's own message when it sent one. */
export function friendlyError(status: number, detail: string, area: Area, retryAfter: number | null = null): string {
  const what = area === "chat" ? "Chat" : area === "agents" ? "The agent list" : "Memory";
  switch (status) {
    case 0:
      return "Cannot reach the Engram service. Check your connection and try again.";
    case 401:
      return "Please sign in: the service did not accept your sign-in.";
    case 403:
      return `Your account is not allowed to use ${area === "chat" ? "chat" : "this"}.`;
    case 404:
      if (area === "chat" && /agent/i.test(detail)) return "That agent does not exist.";
      if (/session/i.test(detail)) return "This conversation belongs to another account. Start a new conversation.";
      return `${what} was not found on this server.`;
    case 413:
    case 422:
      return rejectedMessage(detail);
    case 429:
      return `Too many requests. ${retryAfter ? tryAgainIn(retryAfter) : "Wait a moment and try again."}`;
    case 503:
      return area === "chat"
        ? "Chat is not available on this server right now. Try again later, or ask your administrator."
        : `${what} is not available on this server right now. Try again later.`;
    case 504:
      return "The AI service took too long to answer. Try again.";
    case 502:
      return "The AI service had a problem answering. Try again.";
    default:
      return status >= 500 ? "The Engram service had a problem. Try again." : `${what} did not work. Try again; if it keeps failing, reload the page.`;
  }
}

/** The `detail` of a FastAPI error body, as one string. */
export function errorDetail(body: unknown): string {
  if (!body || typeof body !== "object") return "";
  const detail = (body as { detail?: unknown }).detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .map((item) => (item && typeof item === "object" && typeof item.msg === "string" ? item.msg : ""))
      .filter(Boolean)
      .join("; ");
  }
  return "";
}

async function toApiError(response: Response, area: Area): Promise<ApiError> {
  let detail = "";
  try {
    detail = errorDetail(await response.json());
  } catch {
    /* not JSON: keep the status only */
  }
  const retry = Number(response.headers.get("Retry-After"));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? Math.ceil(retry) : null;
  const error = new ApiError(response.status, friendlyError(response.status, detail, area, retryAfter), retryAfter);
  (error as ApiError & { detail: string }).detail = detail;
  return error;
}

function pickAccent(raw: Record<string, unknown>): string {
  const value = raw.accent_color ?? raw.accent_colour ?? raw.accent ?? raw.color;
  return typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value) ? value : "#4a5568";
}

export function parseAgents(body: unknown): Agent[] {
  const list = Array.isArray(body) ? body : ((body as { agents?: unknown } | null)?.agents ?? []);
  if (!Array.isArray(list)) return [];
  return list
    .filter((item): item is Record<string, unknown> => !!item && typeof item === "object" && typeof item.id === "string")
    .map((item) => ({
      id: item.id as string,
      name: typeof item.name === "string" ? item.name : (item.id as string),
      title: typeof item.title === "string" ? item.title : "",
      accent: pickAccent(item),
      expertise: Array.isArray(item.expertise) ? item.expertise.filter((e): e is string => typeof e === "string") : [],
    }));
}

export class Api {
  constructor(
    private readonly base: string,
    private readonly auth: Auth,
  ) {}

  private async headers(extra: Record<string, string> = {}): Promise<Record<string, string>> {
    return { ...authHeaders(await this.auth.token()), ...extra };
  }

  private async fetch(path: string, init: RequestInit, area: Area): Promise<Response> {
    const response = await this.send(path, init, area);
    // A claims challenge (prod MFA): get a token with the requested claims, retry once; if the retry is
    // challenged again, the identity provider must see the user (redirect).
    const claims = response.status === 401 ? claimsChallenge(response.headers.get("WWW-Authenticate")) : null;
    if (!claims || !this.auth.stepUp) return response;
    const token = await this.auth.stepUp(claims);
    if (!token) return response;
    const retry = await this.send(path, { ...init, headers: { ...(init.headers as Record<string, string>), ...authHeaders(token) } }, area);
    if (retry.status === 401 && claimsChallenge(retry.headers.get("WWW-Authenticate"))) await this.auth.stepUp(claims, true);
    return retry;
  }

  private async send(path: string, init: RequestInit, area: Area): Promise<Response> {
    try {
      return await fetch(apiUrl(this.base, path), init);
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      throw new ApiError(0, friendlyError(0, "", area));
    }
  }

  async agents(): Promise<Agent[]> {
    const response = await this.fetch("/api/v1/agents", { headers: await this.headers() }, "agents");
    if (!response.ok) throw await toApiError(response, "agents");
    return parseAgents(await response.json());
  }

  /**
   * The stored turns of a session (to show the conversation again after a reload or a sign-in
   * redirect). An unknown session (404) is a new one: no turns.
   */
  async episode(sessionId: string, signal?: AbortSignal): Promise<EpisodeTurn[]> {
    const path = `/api/v1/memory/episodes/${encodeURIComponent(sessionId)}`;
    const response = await this.fetch(path, { headers: await this.headers(), signal }, "memory");
    if (response.status === 404) return [];
    if (!response.ok) throw await toApiError(response, "memory");
    return parseEpisode(await response.json());
  }

  /**
   * Send one message; `onDelta` gets the answer as it streams. Uses `POST /api/v1/chat/stream`
   * (SSE) and falls back to `POST /api/v1/chat` on a server without streaming.
   */
  async chat(
    request: { content: string; agent_id: string; session_id: string },
    onDelta: (text: string) => void,
    signal?: AbortSignal,
  ): Promise<ChatMetadata> {
    const body = JSON.stringify(request);
    const headers = await this.headers({ "Content-Type": "application/json", Accept: "text/event-stream" });
    const response = await this.fetch("/api/v1/chat/stream", { method: "POST", headers, body, signal }, "chat");
    const noStreaming =
      response.status === 405 || response.status === 501 || (response.status === 404 && (await isMissingRoute(response)));
    if (noStreaming) return this.chatOnce(body, onDelta, signal);
    if (!response.ok) throw await toApiError(response, "chat");
    if (!response.body || !(response.headers.get("Content-Type") ?? "").includes("text/event-stream")) {
      const meta = (await response.json()) as ChatMetadata;
      if (meta.content) onDelta(meta.content);
      return meta;
    }
    return readChatStream(response.body, onDelta);
  }

  private async chatOnce(body: string, onDelta: (text: string) => void, signal?: AbortSignal): Promise<ChatMetadata> {
    const headers = await this.headers({ "Content-Type": "application/json" });
    const response = await this.fetch("/api/v1/chat", { method: "POST", headers, body, signal }, "chat");
    if (!response.ok) throw await toApiError(response, "chat");
    const meta = (await response.json()) as ChatMetadata;
    if (meta.content) onDelta(meta.content);
    return meta;
  }
}

export function parseEpisode(body: unknown): EpisodeTurn[] {
  const transcript = (body as { transcript?: unknown } | null)?.transcript;
  if (!Array.isArray(transcript)) return [];
  return transcript
    .filter((t): t is Record<string, unknown> => !!t && typeof t === "object")
    .filter((t) => (t.role === "user" || t.role === "assistant") && typeof t.content === "string")
    .map((t) => {
      const meta = (t.metadata ?? {}) as Record<string, unknown>;
      return {
        role: t.role as "user" | "assistant",
        content: t.content as string,
        agentId: typeof meta.agent_id === "string" ? meta.agent_id : "",
        channel: meta.channel === "voice" ? "voice" : "chat",
      };
    });
}

/** FastAPI's own 404 for a route that does not exist (an unknown agent or session has its own detail). */
async function isMissingRoute(response: Response): Promise<boolean> {
  try {
    return errorDetail(await response.clone().json()) === "Not Found";
  } catch {
    return false;
  }
}

/** Reads an SSE chat stream to its metadata event; a stream that ends without one is an error. */
export async function readChatStream(
  body: ReadableStream<Uint8Array>,
  onDelta: (text: string) => void,
): Promise<ChatMetadata> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    const events = done ? parser.push(decoder.decode() + "\n\n") : parser.push(decoder.decode(value, { stream: true }));
    for (const event of events) {
      const item = interpretChatEvent(event);
      if (!item) continue;
      if (item.kind === "delta") {
        text += item.text;
        onDelta(item.text);
      } else if (item.kind === "error") {
        await reader.cancel().catch(() => undefined);
        const status = item.status ?? 502;
        throw new ApiError(status, `The answer was interrupted. ${friendlyError(status, item.message, "chat")}`);
      } else {
        await reader.cancel().catch(() => undefined);
        return { ...item.meta, content: item.meta.content ?? text };
      }
    }
    if (done) throw new ApiError(502, "The answer was cut off before it finished. Try again.");
  }
}
