/**
 * Recording consent for one conversation (SOP 5.6/6.7): nothing is recorded until the user allows it,
 * the choice can be withdrawn at any moment, and the indicator shows only what the server confirmed
 * (`{"type":"recording","state":"on"|"off"}`), never what was merely asked for.
 */
import type { ClientMessage, ServerMessage } from "./protocol";

export type ConsentView =
  | "hidden" // not connected
  | "ask" // connected, the user has not chosen
  | "waiting" // the user allowed it, the server has not confirmed yet
  | "recording" // the server confirmed: this session is being recorded
  | "declined" // the user chose not to record (or withdrew)
  | "unavailable"; // the server refused (not enabled here, or its store failed)

type RecordingMessage = Extract<ServerMessage, { type: "recording" }>;

export class RecordingConsent {
  /** The user's choice for this conversation: null until asked. */
  choice: boolean | null = null;
  serverOn = false;
  reason = "";
  connected = false;

  /** The user chose; the message to send now. */
  choose(record: boolean): ClientMessage {
    this.choice = record;
    if (!record) this.serverOn = false; // withdrawal: never show "recording" after the user said stop
    return { type: "consent", recording: record };
  }

  /** The socket opened (or reopened): a reconnect is a new server session, so an allowed recording is
   * asked for again, and nothing is recorded until the server confirms. */
  open(): ClientMessage | null {
    this.connected = true;
    this.serverOn = false;
    return this.choice === true ? { type: "consent", recording: true } : null;
  }

  closed(): void {
    this.connected = false;
    this.serverOn = false;
  }

  /** The conversation ended: the next one asks again. */
  reset(): void {
    this.closed();
    this.choice = null;
    this.reason = "";
  }

  update(message: RecordingMessage): void {
    this.serverOn = message.state === "on" && this.choice === true;
    this.reason = message.state === "off" ? (message.reason ?? "") : "";
  }

  get view(): ConsentView {
    if (!this.connected) return "hidden";
    if (this.serverOn) return "recording";
    if (this.choice === null) return "ask";
    if (!this.choice) return "declined";
    return this.reason ? "unavailable" : "waiting";
  }
}
