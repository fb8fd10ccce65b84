import { afterEach, describe, expect, it, vi } from "vitest";
import { MAX_ATTEMPTS, VoiceConnection, backoffDelay, type ConnectionState, type StateInfo } from "../src/voice/connection";
import { isBargeIn, parseServerMessage } from "../src/voice/protocol";
import { Transcript } from "../src/voice/transcript";
import { websocketProtocols } from "../src/auth";

describe("server messages", () => {
  it("accepts the protocol's four message types", () => {
    expect(parseServerMessage('{"type":"agent_switched","agent_id":"marcus"}')).toEqual({ type: "agent_switched", agent_id: "marcus" });
    expect(parseServerMessage('{"type":"transcription","speaker":"user","status":"complete","text":"hi"}')).toEqual({
      type: "transcription",
      speaker: "user",
      status: "complete",
      text: "hi",
    });
    expect(parseServerMessage('{"type":"audio","data":"AAA=","format":"audio/pcm16"}')).toEqual({
      type: "audio",
      data: "AAA=",
      format: "audio/pcm16",
    });
    expect(parseServerMessage('{"type":"error","message":"VoiceLive is not configured"}')).toEqual({
      type: "error",
      message: "VoiceLive is not configured",
    });
  });

  it("drops malformed or unknown frames instead of showing them", () => {
    for (const raw of ["not json", "[]", "null", '{"type":"transcription","speaker":"system","status":"complete"}', '{"type":"audio"}', '{"type":"session.created"}']) {
      expect(parseServerMessage(raw)).toBeNull();
    }
    expect(parseServerMessage(new ArrayBuffer(4))).toBeNull();
  });

  it("reads stop_playback as barge-in", () => {
    const stop = parseServerMessage('{"type":"stop_playback"}');
    expect(stop).toEqual({ type: "stop_playback" });
    expect(stop && isBargeIn(stop)).toBe(true);
  });

  it("treats only a user 'listening' transcription as barge-in", () => {
    const listening = parseServerMessage('{"type":"transcription","speaker":"user","status":"listening","text":""}');
    const assistant = parseServerMessage('{"type":"transcription","speaker":"assistant","status":"processing","text":"x"}');
    expect(listening && isBargeIn(listening)).toBe(true);
    expect(assistant && isBargeIn(assistant)).toBe(false);
  });
});

describe("transcription text so far", () => {
  it("parses the delta and shows the growing sentence from the text so far", () => {
    const first = parseServerMessage('{"type":"transcription","speaker":"assistant","status":"processing","text":"The plan ","delta":"The plan "}');
    const second = parseServerMessage('{"type":"transcription","speaker":"assistant","status":"processing","text":"The plan is set.","delta":"is set."}');
    expect(first).toEqual({ type: "transcription", speaker: "assistant", status: "processing", text: "The plan ", delta: "The plan " });
    const t = new Transcript();
    for (const message of [first, second]) {
      if (message?.type === "transcription") t.apply(message.speaker, message.status, message.text);
    }
    expect(t.lines.map((line) => line.text)).toEqual(["The plan is set."]);
  });
});

describe("Transcript", () => {
  it("builds one line per turn from listening/processing/complete", () => {
    const t = new Transcript();
    t.apply("user", "listening", "");
    t.apply("user", "complete", "What are the risks?");
    t.apply("assistant", "processing", "The main");
    t.apply("assistant", "processing", " risk is");
    t.apply("assistant", "processing", "The main risk is scope");
    t.apply("assistant", "complete", "The main risk is scope creep.");
    expect(t.lines.map(({ speaker, text, final }) => [speaker, text, final])).toEqual([
      ["user", "What are the risks?", true],
      ["assistant", "The main risk is scope creep.", true],
    ]);
  });

  it("keeps the streamed text when complete carries none", () => {
    const t = new Transcript();
    t.apply("assistant", "processing", "Hello");
    expect(t.apply("assistant", "complete", "")).toMatchObject({ text: "Hello", final: true });
  });

  it("starts a new assistant line after an interruption", () => {
    const t = new Transcript();
    t.apply("assistant", "processing", "Long answer");
    t.interrupt();
    t.apply("user", "complete", "Go on.");
    t.apply("assistant", "processing", "New answer");
    expect(t.lines.map((l) => l.text)).toEqual(["Long answer", "Go on.", "New answer"]);
    expect(t.lines[0]).toMatchObject({ final: true, interrupted: true });
  });

  it("drops empty placeholders and closes partial lines when the conversation ends", () => {
    const t = new Transcript();
    t.apply("user", "complete", "Wait.");
    t.apply("assistant", "processing", "Half an ans");
    const listening = t.apply("user", "listening", "");
    expect(t.end()).toEqual([listening!.id]);
    expect(t.lines.map(({ speaker, text, final }) => [speaker, text, final])).toEqual([
      ["user", "Wait.", true],
      ["assistant", "Half an ans", true],
    ]);
  });
});

class FakeSocket {
  static created: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  constructor(
    readonly url: string,
    readonly protocols: string[],
  ) {
    FakeSocket.created.push(this);
  }
  send(data: string): void {
    this.sent.push(data);
  }
  close(): void {
    this.readyState = 3;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.();
  }
  drop(code: number, reason = ""): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

function harness(token: string | null = "dev_alice_analyst") {
  FakeSocket.created = [];
  const states: [ConnectionState, StateInfo | undefined][] = [];
  const messages: unknown[] = [];
  const timers: { fn: () => void; ms: number; cleared: boolean }[] = [];
  const connection = new VoiceConnection(
    (agent) => `ws://127.0.0.1:1/api/v1/voice/voicelive/s1${agent ? `?agent=${agent}` : ""}`,
    async () => websocketProtocols(token),
    { state: (s, d) => states.push([s, d]), message: (m) => messages.push(m) },
    {
      createSocket: (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket,
      timers: {
        set: (fn, ms) => (timers.push({ fn, ms, cleared: false }) - 1) as unknown as ReturnType<typeof setTimeout>,
        clear: (id) => {
          const timer = timers[id as unknown as number];
          if (timer) timer.cleared = true;
        },
      },
    },
  );
  const retries = () => timers.filter((t) => t.ms !== 5000);
  return { connection, states, messages, timers, retries };
}

describe("VoiceConnection", () => {
  it("offers engram.v1 and the bearer subprotocol, and only engram.v1 without a token", async () => {
    const { connection } = harness();
    await connection.connect();
    expect(FakeSocket.created[0]?.protocols).toEqual(["engram.v1", "bearer.dev_alice_analyst"]);
    expect(websocketProtocols(null)).toEqual(["engram.v1"]);
  });

  it("reconnects with backoff after a drop, keeping the chosen agent", async () => {
    const { connection, states, messages, timers } = harness();
    connection.agentId = "elena";
    await connection.connect();
    const first = FakeSocket.created[0]!;
    expect(first.url).toBe("ws://127.0.0.1:1/api/v1/voice/voicelive/s1?agent=elena");
    first.open();
    connection.selectAgent("marcus");
    expect(first.sent).toEqual(['{"type":"agent","agent_id":"marcus"}']);
    first.onmessage?.({ data: '{"type":"agent_switched","agent_id":"marcus"}' });
    expect(messages).toEqual([{ type: "agent_switched", agent_id: "marcus" }]);

    first.drop(1006);
    expect(states.at(-1)?.[0]).toBe("reconnecting");
    const retry = timers.filter((t) => t.ms !== 5000);
    expect(retry).toHaveLength(1);
    retry[0]!.fn();
    await Promise.resolve();
    await Promise.resolve();
    const second = FakeSocket.created[1]!;
    expect(second.url).toBe("ws://127.0.0.1:1/api/v1/voice/voicelive/s1?agent=marcus");
    second.open();
    expect(states.at(-1)?.[0]).toBe("open");
  });

  it("reconnects after the server asks to try again (1013), to the same session", async () => {
    const { connection, timers } = harness();
    await connection.connect();
    FakeSocket.created[0]!.open();
    FakeSocket.created[0]!.drop(1013, "the voice service is unavailable right now");
    const retries = timers.filter((t) => t.ms !== 5000); // not the "stayed open" timer
    expect(retries).toHaveLength(1);
    retries[0]!.fn();
    await Promise.resolve();
    await Promise.resolve();
    expect(FakeSocket.created[1]?.url).toBe(FakeSocket.created[0]?.url);
  });

  it("drops the socket when the network goes and reconnects when it is back", async () => {
    const { connection, states, timers } = harness();
    await connection.connect();
    const first = FakeSocket.created[0]!;
    first.open();
    connection.networkLost();
    expect(first.readyState).toBe(3);
    expect(states.at(-1)).toEqual(["reconnecting", { why: "offline" }]);
    expect(timers.filter((t) => t.ms !== 5000)).toHaveLength(0); // no attempt while offline
    connection.networkBack();
    await Promise.resolve();
    await Promise.resolve();
    expect(FakeSocket.created).toHaveLength(2);
    expect(FakeSocket.created[1]?.url).toBe(first.url);
  });

  it("does not retry after an authentication refusal (1008)", async () => {
    const { connection, states, timers } = harness();
    await connection.connect();
    FakeSocket.created[0]!.drop(1008, "authentication required");
    expect(timers).toHaveLength(0);
    expect(states.at(-1)).toEqual(["closed", { why: "refused", server: "authentication required" }]);
  });

  it("does not retry a normal end or an unconfigured server, and says why", async () => {
    const { connection, states, timers } = harness();
    await connection.connect();
    const socket = FakeSocket.created[0]!;
    socket.open();
    socket.onmessage?.({ data: '{"type":"error","message":"voice is not configured: set AZURE_VOICELIVE_ENDPOINT"}' });
    socket.drop(1011, "voice is not configured");
    expect(timers.filter((t) => t.ms !== 5000)).toHaveLength(0);
    expect(states.at(-1)).toEqual(["closed", { why: "ended", server: "voice is not configured: set AZURE_VOICELIVE_ENDPOINT" }]);

    const again = harness();
    await again.connection.connect();
    FakeSocket.created[0]!.drop(1000, "maximum session length reached");
    expect(again.timers).toHaveLength(0);

    const erased = harness();
    await erased.connection.connect();
    FakeSocket.created[0]!.drop(4410, "your stored data was erased");
    expect(erased.timers).toHaveLength(0); // reconnecting would record the erased session anew
    expect(erased.states.at(-1)?.[0]).toBe("closed");
  });

  it("retries at capacity (1013) and after an upstream failure (1014)", async () => {
    for (const code of [1013, 1014, 1011]) {
      const { connection, timers } = harness();
      await connection.connect();
      FakeSocket.created[0]!.drop(code, "try again");
      expect(timers).toHaveLength(1);
    }
  });

  it("gives up after MAX_ATTEMPTS drops in a row", async () => {
    const { connection, states, retries } = harness();
    await connection.connect();
    for (let i = 0; i <= MAX_ATTEMPTS; i++) {
      FakeSocket.created.at(-1)!.drop(1011);
      retries().at(-1)?.fn();
      await Promise.resolve();
      await Promise.resolve();
    }
    expect(states.at(-1)).toEqual(["closed", { why: "gave-up" }]);
  });

  it("keeps counting when each socket opens and drops at once (upstream down), so it still gives up", async () => {
    const { connection, states, retries, timers } = harness();
    await connection.connect();
    for (let i = 0; i <= MAX_ATTEMPTS; i++) {
      const socket = FakeSocket.created.at(-1)!;
      socket.open(); // accepted, then the service's upstream fails
      socket.drop(1014);
      retries().at(-1)?.fn();
      await Promise.resolve();
      await Promise.resolve();
    }
    expect(states.at(-1)).toEqual(["closed", { why: "gave-up" }]);
    // The "stable" timers were cancelled on each drop: none of them reset the budget.
    expect(timers.filter((t) => t.ms === 5000).every((t) => t.cleared)).toBe(true);
  });

  it("a connection that stays up resets the retry budget", async () => {
    const { connection, states, retries, timers } = harness();
    await connection.connect();
    FakeSocket.created[0]!.drop(1014);
    retries().at(-1)!.fn();
    await Promise.resolve();
    await Promise.resolve();
    FakeSocket.created[1]!.open();
    timers.filter((t) => t.ms === 5000).at(-1)!.fn(); // stayed up
    FakeSocket.created[1]!.drop(1014);
    expect(states.at(-1)).toEqual(["reconnecting", expect.objectContaining({ why: "retrying", attempt: 1 })]);
  });

  it("sends nothing while not open, and nothing after a user stop", async () => {
    const { connection, timers } = harness();
    await connection.connect();
    expect(connection.send({ type: "cancel" })).toBe(false);
    connection.close();
    FakeSocket.created[0]!.drop(1006);
    expect(timers).toHaveLength(0);
  });

  it("a user stop during the backoff cancels the pending retry", async () => {
    const { connection, retries } = harness();
    await connection.connect();
    FakeSocket.created[0]!.drop(1006);
    connection.close();
    expect(retries()[0]!.cleared).toBe(true);
  });
});

/**
 * With the real timer functions. Browsers throw "Illegal invocation" when setTimeout is called with
 * a `this` other than the window (storing it on an object and calling it as a method); Node does not,
 * so the global is replaced by one that checks its receiver the way Chromium does.
 */
describe("VoiceConnection with real timers", () => {
  const nativeSetTimeout = globalThis.setTimeout;
  const nativeClearTimeout = globalThis.clearTimeout;

  afterEach(() => {
    vi.unstubAllGlobals();
  });

  function browserLikeTimers(): void {
    vi.stubGlobal("setTimeout", function (this: unknown, fn: () => void, ms: number) {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      return nativeSetTimeout(fn, ms);
    });
    vi.stubGlobal("clearTimeout", function (this: unknown, id: ReturnType<typeof setTimeout>) {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      nativeClearTimeout(id);
    });
  }

  it("the browser-like stub does throw for a method call (the old bug)", () => {
    browserLikeTimers();
    const holder = { schedule: globalThis.setTimeout };
    expect(() => holder.schedule(() => undefined, 1)).toThrow("Illegal invocation");
  });

  it("reconnects by itself after a drop and after a refusal before accept (1006), same session URL", async () => {
    browserLikeTimers();
    FakeSocket.created = [];
    const states: ConnectionState[] = [];
    const connection = new VoiceConnection(
      () => "ws://127.0.0.1:1/api/v1/voice/voicelive/same-session",
      async () => ["engram.v1"],
      { state: (s) => states.push(s), message: () => undefined },
      { createSocket: (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket, baseDelayMs: 5, stableMs: 20 },
    );
    await connection.connect();
    FakeSocket.created[0]!.open();
    FakeSocket.created[0]!.drop(1014); // the service lost VoiceLive
    await vi.waitFor(() => expect(FakeSocket.created).toHaveLength(2), { timeout: 2000, interval: 5 });
    FakeSocket.created[1]!.drop(1006); // refused before accept while the service restarts
    await vi.waitFor(() => expect(FakeSocket.created).toHaveLength(3), { timeout: 2000, interval: 5 });
    FakeSocket.created[2]!.open();
    expect(states.at(-1)).toBe("open");
    expect(new Set(FakeSocket.created.map((s) => s.url))).toEqual(new Set(["ws://127.0.0.1:1/api/v1/voice/voicelive/same-session"]));
    connection.close();
  });

  it("gives up within its bound and stops retrying", async () => {
    browserLikeTimers();
    FakeSocket.created = [];
    const states: [ConnectionState, StateInfo | undefined][] = [];
    const connection = new VoiceConnection(
      () => "ws://127.0.0.1:1/x",
      async () => ["engram.v1"],
      { state: (s, i) => states.push([s, i]), message: () => undefined },
      { createSocket: (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket, baseDelayMs: 2, maxAttempts: 3 },
    );
    await connection.connect();
    for (let i = 0; i <= 3; i++) {
      const before = FakeSocket.created.length;
      FakeSocket.created.at(-1)!.drop(1006);
      if (i < 3) await vi.waitFor(() => expect(FakeSocket.created.length).toBe(before + 1), { timeout: 2000, interval: 2 });
    }
    expect(states.at(-1)).toEqual(["closed", { why: "gave-up" }]);
    await new Promise((resolve) => nativeSetTimeout(resolve, 50));
    expect(FakeSocket.created).toHaveLength(4);
  });
});

describe("backoffDelay", () => {
  it("doubles from 500 ms up to a 10 s cap, with jitter in the upper half", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((a) => backoffDelay(a, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(backoffDelay(2, () => 0)).toBe(1000);
  });
});
