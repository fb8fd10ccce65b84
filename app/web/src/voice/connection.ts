/**
 * The voice websocket with reconnection: exponential backoff with jitter while the user wants to be
 * connected (dropped, refused before accept (1006), at capacity, upstream failed), none after a
 * refusal or a normal end (see the close codes below) or a user stop. Every (re)connect uses the same
 * session id and names the chosen agent in the URL, so a dropped socket resumes the same conversation
 * and does not silently change agents. Retries are bounded: after MAX_ATTEMPTS drops without a stable
 * connection in between, the connection closes for good and says so. When the browser reports the
 * network gone (`networkLost`, the window's `offline` event) the socket is dropped at once (an
 * established websocket can otherwise sit silent for a long time) and the reconnect waits for
 * `networkBack` (`online`) instead of a timer.
 */
import { parseServerMessage, type ClientMessage, type ServerMessage } from "./protocol";

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export const NORMAL = 1000; // the session ended (client left, or its maximum length was reached)
export const POLICY_VIOLATION = 1008; // authentication, permission, origin or ownership refused
export const INTERNAL = 1011; // not configured, or a server fault
export const NETWORK_LOST = 4000; // sent by this client when the browser reports the network gone
export const ERASED = 4410; // the user's data was erased: the session is over, never reconnect to it
export const MAX_ATTEMPTS = 8;
/** A socket that stays open this long counts as recovered: the attempt counter starts again. */
export const STABLE_MS = 5_000;
/** WebSocket.readyState values (named here so the module loads where WebSocket is absent). */
const OPEN = 1;

/** Delay before reconnect attempt `attempt` (0-based): doubling from `base`, capped, with jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random, base = 500, cap = 10_000): number {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

type SocketFactory = (url: string, protocols: string[]) => WebSocket;
type TimerId = ReturnType<typeof setTimeout>;

/**
 * How the connection waits. The default calls the global functions as plain functions: storing
 * `setTimeout` and calling it as `this.x(...)` throws "Illegal invocation" in Chromium.
 */
export interface Timers {
  set(fn: () => void, ms: number): TimerId;
  clear(id: TimerId): void;
}

export const realTimers: Timers = {
  set: (fn, ms) => setTimeout(fn, ms),
  clear: (id) => clearTimeout(id),
};

export interface ConnectionOptions {
  createSocket?: SocketFactory;
  timers?: Timers;
  /** The first retry waits about this long (then doubling, capped at 10 s). */
  baseDelayMs?: number;
  maxAttempts?: number;
  stableMs?: number;
}

/** Why the state changed, for the UI to put into words (see voice/wording.ts). */
export type StateInfo =
  | { why: "refused"; server: string }
  | { why: "ended"; server: string }
  | { why: "gave-up" }
  | { why: "sign-in" }
  | { why: "cannot-connect" }
  | { why: "retrying"; attempt: number; inMs: number }
  | { why: "offline" };

export interface ConnectionEvents {
  state(state: ConnectionState, info?: StateInfo): void;
  message(message: ServerMessage): void;
}

export class VoiceConnection {
  private socket: WebSocket | null = null;
  private wanted = false;
  private attempt = 0;
  private retryTimer: TimerId | null = null;
  private stableTimer: TimerId | null = null;
  /** The last error the server sent on this socket (it explains the close that follows). */
  private lastError = "";
  /** The browser reported the network gone: reconnect when it is back, not on a timer. */
  private offline = false;
  agentId: string | null = null;
  private readonly createSocket: SocketFactory;
  private readonly timers: Timers;
  private readonly baseDelayMs: number;
  private readonly maxAttempts: number;
  private readonly stableMs: number;

  constructor(
    private readonly url: (agentId: string | null) => string,
    private readonly protocols: () => Promise<string[]>,
    private readonly events: ConnectionEvents,
    options: ConnectionOptions = {},
  ) {
    this.createSocket = options.createSocket ?? ((url, protocols) => new WebSocket(url, protocols));
    this.timers = options.timers ?? realTimers;
    this.baseDelayMs = options.baseDelayMs ?? 500;
    this.maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
    this.stableMs = options.stableMs ?? STABLE_MS;
  }

  get isOpen(): boolean {
    return this.socket?.readyState === OPEN;
  }

  async connect(): Promise<void> {
    this.wanted = true;
    this.attempt = 0;
    await this.open("connecting");
  }

  send(message: ClientMessage): boolean {
    if (!this.socket || this.socket.readyState !== OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  selectAgent(agentId: string): void {
    this.agentId = agentId;
    this.send({ type: "agent", agent_id: agentId });
  }

  close(): void {
    this.wanted = false;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    if (socket && socket.readyState <= OPEN) socket.close(1000, "user stopped");
    this.events.state("closed");
  }

  /** The network went away: drop the socket now (nothing gets through) and wait for `networkBack`. */
  networkLost(): void {
    this.offline = true;
    const socket = this.socket;
    if (!this.wanted || !socket) return;
    this.socket = null;
    if (this.stableTimer !== null) this.timers.clear(this.stableTimer);
    this.stableTimer = null;
    if (socket.readyState <= OPEN) socket.close(NETWORK_LOST, "network lost");
    this.closed(NETWORK_LOST, "network lost");
  }

  /** The network is back: reconnect now if a reconnect is due. */
  networkBack(): void {
    this.offline = false;
    if (!this.wanted || this.socket) return;
    if (this.retryTimer !== null) this.timers.clear(this.retryTimer);
    this.retryTimer = null;
    this.attempt = 0;
    void this.open("reconnecting");
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) this.timers.clear(this.retryTimer);
    if (this.stableTimer !== null) this.timers.clear(this.stableTimer);
    this.retryTimer = null;
    this.stableTimer = null;
  }

  private async open(state: ConnectionState): Promise<void> {
    this.events.state(state);
    let protocols: string[];
    try {
      protocols = await this.protocols();
    } catch {
      this.wanted = false;
      this.events.state("closed", { why: "sign-in" });
      return;
    }
    if (!this.wanted) return;
    this.lastError = "";
    let socket: WebSocket;
    try {
      socket = this.createSocket(this.url(this.agentId), protocols);
    } catch {
      this.wanted = false;
      this.events.state("closed", { why: "cannot-connect" });
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      // Only a connection that stays up resets the retry budget: a server that accepts and then
      // drops at once (its upstream is down) must not be retried for ever.
      this.stableTimer = this.timers.set(() => {
        this.stableTimer = null;
        this.attempt = 0;
      }, this.stableMs);
      this.events.state("open");
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      const message = parseServerMessage(event.data);
      if (message?.type === "error") this.lastError = message.message;
      if (message) this.events.message(message);
    };
    socket.onclose = (event: CloseEvent) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.stableTimer !== null) this.timers.clear(this.stableTimer);
      this.stableTimer = null;
      this.closed(event.code, event.reason);
    };
  }

  private closed(code: number, reason: string): void {
    if (!this.wanted) return;
    const explanation = this.lastError || reason;
    if (code === POLICY_VIOLATION) {
      this.wanted = false;
      this.events.state("closed", { why: "refused", server: explanation });
      return;
    }
    if (code === NORMAL || code === ERASED || (code === INTERNAL && /not configured/i.test(explanation))) {
      this.wanted = false;
      this.events.state("closed", { why: "ended", server: explanation });
      return;
    }
    if (this.offline) {
      this.events.state("reconnecting", { why: "offline" });
      return;
    }
    if (this.attempt >= this.maxAttempts) {
      this.wanted = false;
      this.events.state("closed", { why: "gave-up" });
      return;
    }
    const delay = backoffDelay(this.attempt++, Math.random, this.baseDelayMs);
    this.events.state("reconnecting", { why: "retrying", attempt: this.attempt, inMs: delay });
    this.retryTimer = this.timers.set(() => {
      this.retryTimer = null;
      if (this.wanted) void this.open("reconnecting");
    }, delay);
  }
}
