import { afterEach, describe, expect, it, vi } from "vitest";
import { Api, ApiError, errorDetail, friendlyError, parseAgents, parseEpisode, readChatStream } from "../src/api";
import { DevTokenAuth } from "../src/auth";

function stream(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const part of parts) controller.enqueue(encoder.encode(part));
      controller.close();
    },
  });
}

function memoryStorage() {
  const data = new Map<string, string>();
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), removeItem: (k: string) => void data.delete(k) };
}

afterEach(() => vi.unstubAllGlobals());

describe("errors in plain words", () => {
  it("says what happened, never a bare status", () => {
    expect(friendlyError(503, "chat is not configured: set AZURE_AI_ENDPOINT", "chat")).toBe(
      "Chat is not available on this server right now. Try again later, or ask your administrator.",
    );
    expect(friendlyError(429, "", "chat", 7)).toBe("Too many requests. Try again in 7 seconds.");
    expect(friendlyError(429, "", "chat", 1)).toBe("Too many requests. Try again in 1 second.");
    expect(friendlyError(429, "", "chat")).toBe("Too many requests. Wait a moment and try again.");
    expect(friendlyError(504, "", "chat")).toMatch(/took too long/);
    expect(friendlyError(404, "unknown agent 'zed'", "chat")).toBe("That agent does not exist.");
    expect(friendlyError(401, "", "agents")).toMatch(/sign in/i);
    expect(friendlyError(0, "", "chat")).toMatch(/Cannot reach/);
    expect(friendlyError(404, "no such session", "chat")).toMatch(/another account/);
  });

  it("maps raw server strings to what to do next, never showing setting names", () => {
    const tooLong = friendlyError(422, "content is longer than 16000 characters (CHAT_MAX_CONTENT_CHARS)", "chat");
    expect(tooLong).toBe("Your message is too long. Shorten it to at most 16,000 characters and send it again.");
    expect(friendlyError(422, "String should have at least 1 character", "chat")).toBe("Type a message before sending.");
    expect(friendlyError(422, "Input should be a valid string", "chat")).toBe("The message was not accepted. Check it and send it again.");
    expect(friendlyError(418, "teapot internals", "agents")).not.toMatch(/teapot|418/);
    for (const status of [422, 418, 503]) expect(friendlyError(status, "set CHAT_MAX_CONTENT_CHARS", "chat")).not.toMatch(/CHAT_|AZURE_/);
  });

  it("reads FastAPI details, including validation lists", () => {
    expect(errorDetail({ detail: "too long" })).toBe("too long");
    expect(errorDetail({ detail: [{ msg: "String should have at least 1 character" }, { msg: "x" }] })).toBe("String should have at least 1 character; x");
    expect(errorDetail("nope")).toBe("");
  });
});

describe("agents", () => {
  it("reads a list or an {agents} object and keeps only safe colours", () => {
    const agents = parseAgents([
      { id: "elena", name: "Elena", title: "Business Analyst", accent_color: "#7c3aed", expertise: ["requirements", 3] },
      { id: "marcus", name: "Marcus", title: "Project Manager", accent_color: "red;background:url(x)" },
      { name: "no id" },
    ]);
    expect(agents).toEqual([
      { id: "elena", name: "Elena", title: "Business Analyst", accent: "#7c3aed", expertise: ["requirements"] },
      { id: "marcus", name: "Marcus", title: "Project Manager", accent: "#4a5568", expertise: [] },
    ]);
    expect(parseAgents({ agents: [{ id: "x" }] })).toEqual([{ id: "x", name: "x", title: "", accent: "#4a5568", expertise: [] }]);
  });
});

describe("episode", () => {
  it("reads the stored transcript with its channel and agent, skipping malformed turns", () => {
    const turns = parseEpisode({
      transcript: [
        { role: "user", content: "Hi", metadata: { agent_id: "elena", channel: "chat" } },
        { role: "assistant", content: "Hello", metadata: { agent_id: "elena", channel: "voice" } },
        { role: "system", content: "x", metadata: {} },
        { role: "user" },
      ],
    });
    expect(turns).toEqual([
      { role: "user", content: "Hi", agentId: "elena", channel: "chat" },
      { role: "assistant", content: "Hello", agentId: "elena", channel: "voice" },
    ]);
    expect(parseEpisode(null)).toEqual([]);
  });

  it("an unknown session is an empty conversation, not an error", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ detail: "no such episode" }), { status: 404 }));
    const api = new Api("", new DevTokenAuth(memoryStorage()));
    expect(await api.episode("s-1")).toEqual([]);
  });
});

describe("readChatStream", () => {
  it("delivers deltas and returns the closing metadata", async () => {
    const deltas: string[] = [];
    const meta = await readChatStream(
      stream(['event: delta\ndata: {"content":"Hel', 'lo"}\n\nevent: delta\ndata: {"content":" you"}\n\n', 'event: done\ndata: {"message_id":"m1","agent_id":"elena"}\n\n']),
      (d) => deltas.push(d),
    );
    expect(deltas).toEqual(["Hello", " you"]);
    expect(meta).toMatchObject({ message_id: "m1", agent_id: "elena", content: "Hello you" });
  });

  it("turns an error event or a cut-off stream into an ApiError", async () => {
    await expect(readChatStream(stream(['event: error\ndata: {"status":504,"detail":"upstream timed out"}\n\n']), () => undefined)).rejects.toThrow(
      "The answer was interrupted. The AI service took too long to answer. Try again.",
    );
    await expect(readChatStream(stream(['data: {"content":"partial"}\n\n']), () => undefined)).rejects.toBeInstanceOf(ApiError);
  });
});

describe("Api.chat", () => {
  it("sends the bearer token and session id, and falls back to POST /api/v1/chat without streaming", async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    vi.stubGlobal("fetch", async (url: string, init: RequestInit) => {
      calls.push({ url, init });
      if (url.endsWith("/chat/stream")) return new Response(JSON.stringify({ detail: "Not Found" }), { status: 404 });
      return new Response(JSON.stringify({ content: "Hi!", agent_id: "elena", session_id: "s-1" }), { status: 200 });
    });
    const auth = new DevTokenAuth(memoryStorage());
    await auth.signIn("dev_alice_analyst");
    const deltas: string[] = [];
    const meta = await new Api("http://api.test", auth).chat({ content: "hello", agent_id: "elena", session_id: "s-1" }, (d) => deltas.push(d));
    expect(calls.map((c) => c.url)).toEqual(["http://api.test/api/v1/chat/stream", "http://api.test/api/v1/chat"]);
    expect((calls[1]!.init.headers as Record<string, string>).Authorization).toBe("Bearer dev_alice_analyst");
    expect(JSON.parse(calls[1]!.init.body as string)).toEqual({ content: "hello", agent_id: "elena", session_id: "s-1" });
    expect(deltas).toEqual(["Hi!"]);
    expect(meta.agent_id).toBe("elena");
  });

  it("does not fall back on an unknown agent, and reports 503 plainly", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ detail: "unknown agent: zed" }), { status: 404 }));
    const api = new Api("", new DevTokenAuth(memoryStorage()));
    await expect(api.chat({ content: "x", agent_id: "zed", session_id: "s" }, () => undefined)).rejects.toThrow("That agent does not exist.");
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify({ detail: "set AZURE_AI_ENDPOINT" }), { status: 503 }));
    await expect(api.chat({ content: "x", agent_id: "elena", session_id: "s" }, () => undefined)).rejects.toThrow("Chat is not available on this server right now.");
  });

  it("rejects a malformed dev token before sending it", async () => {
    await expect(new DevTokenAuth(memoryStorage()).signIn("alice")).rejects.toThrow(/dev_<name>_<role>/);
  });
});
