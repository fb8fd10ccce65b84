/**
 * What the UI says, in one place: plural-correct counts, and server strings mapped to a sentence that
 * says what to do next. Server messages are written for operators (setting names, codes); users get
 * plain words, and an unknown server string is never shown raw.
 */
import type { StateInfo } from "./voice/connection";

/** "1 second", "3 seconds". */
export function count(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** "Try again in 1 second." from a Retry-After value (seconds, rounded up, at least 1). */
export function tryAgainIn(seconds: number): string {
  return `Try again in ${count(Math.max(1, Math.ceil(seconds)), "second")}.`;
}

/** A 422 detail from the chat API, in words that say how to fix the message. */
export function rejectedMessage(detail: string): string {
  const tooLong = /longer than (\d+) characters/i.exec(detail);
  if (tooLong) return `Your message is too long. Shorten it to at most ${Number(tooLong[1]).toLocaleString("en")} characters and send it again.`;
  if (/blank|empty|at least 1 character/i.test(detail)) return "Type a message before sending.";
  return "The message was not accepted. Check it and send it again.";
}

/** A voice `error` message (or a close reason) from the server, in words for the user. */
export function voiceServerText(server: string): string {
  const text = server.toLowerCase();
  if (!text) return "";
  if (text.includes("not configured")) return "Voice is not set up on this server. Use chat instead, or ask your administrator.";
  if (text.includes("at capacity")) return "Voice is busy right now. Try again in a minute.";
  if (text.includes("erased")) return "Your stored data was erased, so this conversation ended. Start a new conversation to continue.";
  if (text.includes("maximum length")) return "The conversation reached its time limit. Start it again to go on.";
  if (text.includes("session id cannot be used") || text.includes("ownership")) {
    return "This conversation belongs to another account. Start a new conversation.";
  }
  if (text.includes("could not switch")) return "The agent could not be switched. You are still talking to the same agent.";
  if (text.includes("say that again")) return "The answer could not be given. Please say that again.";
  if (text.includes("voice permission") || text.includes("authentication") || text.includes("sign")) {
    return "Your account cannot use voice. Sign in again, or ask your administrator for access.";
  }
  if (text.includes("origin")) return "Voice is not allowed from this address. Open Engram from its usual address.";
  if (text.includes("credentials")) return "The voice service is not set up correctly. Ask your administrator; use chat meanwhile.";
  return "The voice service had a problem. If it keeps happening, end the conversation and start again.";
}

/** The status line for a connection state change (closed/reconnecting carry why). */
export function voiceClosedText(info: StateInfo | undefined): string {
  switch (info?.why) {
    case "refused":
      return info.server ? voiceServerText(info.server) : "Voice refused the connection. Sign in again and start the conversation.";
    case "ended":
      return info.server ? voiceServerText(info.server) : "The voice conversation ended. Start it again to go on.";
    case "gave-up":
      return "The voice connection could not be restored. The microphone is off. Check your connection and start again.";
    case "sign-in":
      return "Sign in again to use voice.";
    case "cannot-connect":
      return "Voice cannot connect from this page. Reload the page and try again.";
    case "offline":
      return "You are offline. Voice reconnects when the network is back… Nothing you say is sent until then.";
    case "retrying":
      return `Connection lost. Reconnecting in ${count(Math.max(1, Math.ceil(info.inMs / 1000)), "second")}… Nothing you say is sent until then.`;
    default:
      return "Not connected.";
  }
}
