/**
 * The voice websocket with reconnection: exponential backoff with jitter while the user wants to be
 * connected (dropped, at capacity, upstream failed), none after a refusal or a normal end (see the
 * close codes below) or a user stop. Every (re)connect names the chosen agent in the URL, so a
 * dropped socket does not silently change agents, and the page's session id, so the server resumes
 * the conversation. When the browser reports the network gone (`networkLost`, the window's
 * `offline` event) the socket is dropped at once (an established websocket can otherwise sit silent
 * for a long time) and the reconnect waits for `networkBack` (`online`).
 */
import { parseServerMessage, type ClientMessage, type ServerMessage } from "./protocol";

export type ConnectionState = "idle" | "connecting" | "open" | "reconnecting" | "closed";

export const NORMAL = 1000; // the session ended (client left, or its maximum length was reached)
export const POLICY_VIOLATION = 1008; // authentication, permission, origin or ownership refused
export const INTERNAL = 1011; // not configured, or a server fault
export const NETWORK_LOST = 4000; // sent by this client when the browser reports the network gone
export const ERASED = 4410; // the user's data was erased: the session is over, never reconnect to it
export const MAX_ATTEMPTS = 8;
/** WebSocket.readyState values (named here so the module loads where WebSocket is absent). */
const OPEN = 1;

/** Delay before reconnect attempt `attempt` (0-based): doubling from `base`, capped, with jitter. */
export function backoffDelay(attempt: number, random: () => number = Math.random, base = 500, cap = 10_000): number {
  const ceiling = Math.min(cap, base * 2 ** attempt);
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}

type SocketFactory = (url: string, protocols: string[]) => WebSocket;

export interface ConnectionEvents {
  state(state: ConnectionState, detail?: string): void;
  message(message: ServerMessage): void;
}

export class VoiceConnection {
  private socket: WebSocket | null = null;
  private wanted = false;
  private attempt = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** The last error the server sent on this socket (it explains the close that follows). */
  private lastError = "";
  /** The browser reported the network gone: reconnect when it is back, not on a timer. */
  private offline = false;
  agentId: string | null = null;

  constructor(
    private readonly url: (agentId: string | null) => string,
    private readonly protocols: () => Promise<string[]>,
    private readonly events: ConnectionEvents,
    private readonly createSocket: SocketFactory = (url, protocols) => new WebSocket(url, protocols),
    // A plain call: stored bare, `this.schedule(...)` would call setTimeout as a method of this
    // object, which browsers refuse ("Illegal invocation") - and no reconnect would ever happen.
    private readonly schedule: (fn: () => void, ms: number) => ReturnType<typeof setTimeout> = (fn, ms) =>
      setTimeout(fn, ms),
  ) {}

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
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
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
    if (socket.readyState <= OPEN) socket.close(NETWORK_LOST, "network lost");
    this.closed(NETWORK_LOST, "network lost");
  }

  /** The network is back: reconnect now if a reconnect is due. */
  networkBack(): void {
    this.offline = false;
    if (!this.wanted || this.socket) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.attempt = 0;
    void this.open("reconnecting");
  }

  private async open(state: ConnectionState): Promise<void> {
    this.events.state(state);
    let protocols: string[];
    try {
      protocols = await this.protocols();
    } catch {
      this.wanted = false;
      this.events.state("closed", "Sign in again to use voice.");
      return;
    }
    if (!this.wanted) return;
    this.lastError = "";
    const socket = this.createSocket(this.url(this.agentId), protocols);
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.attempt = 0;
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
      this.closed(event.code, event.reason);
    };
  }

  private closed(code: number, reason: string): void {
    if (!this.wanted) return;
    const explanation = this.lastError || reason;
    if (code === POLICY_VIOLATION) {
      this.wanted = false;
      this.events.state("closed", explanation ? `The voice service refused the connection: ${explanation}` : "Sign in again to use voice.");
      return;
    }
    if (code === NORMAL || code === ERASED || (code === INTERNAL && /not configured/i.test(explanation))) {
      this.wanted = false;
      this.events.state("closed", explanation ? `Voice ended: ${explanation}` : "The voice conversation ended.");
      return;
    }
    if (this.offline) {
      this.events.state("reconnecting", "Offline. Reconnecting when the network is back…");
      return;
    }
    if (this.attempt >= MAX_ATTEMPTS) {
      this.wanted = false;
      this.events.state("closed", "The voice connection keeps dropping. Try again later.");
      return;
    }
    const delay = backoffDelay(this.attempt++);
    this.events.state("reconnecting", `Connection lost. Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.timer = this.schedule(() => {
      this.timer = null;
      if (this.wanted) void this.open("reconnecting");
    }, delay);
  }
}
