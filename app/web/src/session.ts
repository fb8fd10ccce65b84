/**
 * One conversation session per browser tab: chat sends it as `session_id`, voice puts it in the
 * websocket path, so both channels land in one memory episode. sessionStorage is per tab.
 */
export const SESSION_KEY = "engram_session_id";

const ACCEPTABLE = /^[A-Za-z0-9_-]{8,64}$/;

export function newSessionId(): string {
  return crypto.randomUUID();
}

/** The tab's session id, created on first use. A tampered value is replaced. */
export function sessionId(storage: Pick<Storage, "getItem" | "setItem">): string {
  const existing = storage.getItem(SESSION_KEY);
  if (existing && ACCEPTABLE.test(existing)) return existing;
  const created = newSessionId();
  storage.setItem(SESSION_KEY, created);
  return created;
}

/** Start a new conversation in this tab (a fresh episode for both channels). */
export function resetSessionId(storage: Pick<Storage, "setItem">): string {
  const created = newSessionId();
  storage.setItem(SESSION_KEY, created);
  return created;
}

/** Go back to an earlier session of this tab (undo of "New conversation"). */
export function setSessionId(storage: Pick<Storage, "setItem">, id: string): void {
  if (ACCEPTABLE.test(id)) storage.setItem(SESSION_KEY, id);
}
