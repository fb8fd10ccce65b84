import { describe, expect, it } from "vitest";
import { SESSION_KEY, resetSessionId, sessionId } from "../src/session";

function memoryStorage(initial: Record<string, string> = {}) {
  const data = new Map(Object.entries(initial));
  return {
    getItem: (key: string) => data.get(key) ?? null,
    setItem: (key: string, value: string) => void data.set(key, value),
    data,
  };
}

describe("per-tab session id", () => {
  it("is created once under engram_session_id and then reused", () => {
    const storage = memoryStorage();
    const first = sessionId(storage);
    expect(first).toMatch(/^[0-9a-f-]{36}$/);
    expect(storage.data.get(SESSION_KEY)).toBe(first);
    expect(sessionId(storage)).toBe(first);
  });

  it("keeps an id the tab already has", () => {
    expect(sessionId(memoryStorage({ engram_session_id: "existing-session-1" }))).toBe("existing-session-1");
  });

  it("replaces a tampered value rather than sending it", () => {
    const storage = memoryStorage({ engram_session_id: "../../etc<script>" });
    const id = sessionId(storage);
    expect(id).not.toContain("<");
    expect(storage.data.get(SESSION_KEY)).toBe(id);
  });

  it("starts a new conversation on reset", () => {
    const storage = memoryStorage();
    const first = sessionId(storage);
    const second = resetSessionId(storage);
    expect(second).not.toBe(first);
    expect(sessionId(storage)).toBe(second);
  });
});
