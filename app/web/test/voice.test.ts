import { describe, expect, it } from "vitest";
import { MAX_ATTEMPTS, VoiceConnection, backoffDelay, type ConnectionState } from "../src/voice/connection";
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
    t.interrupt("assistant");
    t.apply("assistant", "processing", "New answer");
    expect(t.lines.map((l) => l.text)).toEqual(["Long answer", "New answer"]);
    expect(t.lines[0]?.final).toBe(true);
  });

  it("drops empty placeholders and closes partial lines when the conversation ends", () => {
    const t = new Transcript();
    t.apply("user", "complete", "Wait.");
    t.apply("assistant", "processing", "Half an ans");
    const listening = t.apply("user", "listening", "");
    expect(t.end()).toEqual([listening.id]);
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
  const states: [ConnectionState, string | undefined][] = [];
  const messages: unknown[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const connection = new VoiceConnection(
    (agent) => `ws://127.0.0.1:1/api/v1/voice/voicelive/s1${agent ? `?agent=${agent}` : ""}`,
    async () => websocketProtocols(token),
    { state: (s, d) => states.push([s, d]), message: (m) => messages.push(m) },
    (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket,
    (fn, ms) => {
      timers.push({ fn, ms });
      return 0 as unknown as ReturnType<typeof setTimeout>;
    },
  );
  return { connection, states, messages, timers };
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
    expect(timers).toHaveLength(1);
    timers[0]!.fn();
    await Promise.resolve();
    await Promise.resolve();
    const second = FakeSocket.created[1]!;
    expect(second.url).toBe("ws://127.0.0.1:1/api/v1/voice/voicelive/s1?agent=marcus");
    second.open();
    expect(states.at(-1)?.[0]).toBe("open");
  });

  it("reconnects with the default scheduler, calling setTimeout as a plain function", async () => {
    const real = globalThis.setTimeout;
    const delays: number[] = [];
    // Browsers throw "Illegal invocation" when setTimeout is called as a method of another object.
    globalThis.setTimeout = function (this: unknown, _fn: () => void, ms?: number) {
      if (this !== undefined && this !== globalThis) throw new TypeError("Illegal invocation");
      delays.push(ms ?? 0);
      return 0;
    } as unknown as typeof setTimeout;
    try {
      FakeSocket.created = [];
      const states: ConnectionState[] = [];
      const connection = new VoiceConnection(
        () => "ws://127.0.0.1:1/api/v1/voice/voicelive/s1",
        async () => websocketProtocols(null),
        { state: (s) => states.push(s), message: () => undefined },
        (url, protocols) => new FakeSocket(url, protocols) as unknown as WebSocket,
      );
      await connection.connect();
      FakeSocket.created[0]!.open();
      FakeSocket.created[0]!.drop(1006);
      expect(delays).toHaveLength(1);
      expect(states.at(-1)).toBe("reconnecting");
    } finally {
      globalThis.setTimeout = real;
    }
  });

  it("reconnects after the server asks to try again (1013), to the same session", async () => {
    const { connection, timers } = harness();
    await connection.connect();
    FakeSocket.created[0]!.open();
    FakeSocket.created[0]!.drop(1013, "the voice service is unavailable right now");
    expect(timers).toHaveLength(1);
    timers[0]!.fn();
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
    expect(states.at(-1)).toEqual(["reconnecting", "Offline. Reconnecting when the network is back…"]);
    expect(timers).toHaveLength(0); // no attempt while offline
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
    expect(states.at(-1)).toEqual(["closed", "The voice service refused the connection: authentication required"]);
  });

  it("does not retry a normal end or an unconfigured server, and says why", async () => {
    const { connection, states, timers } = harness();
    await connection.connect();
    const socket = FakeSocket.created[0]!;
    socket.open();
    socket.onmessage?.({ data: '{"type":"error","message":"voice is not configured: set AZURE_VOICELIVE_ENDPOINT"}' });
    socket.drop(1011, "voice is not configured");
    expect(timers).toHaveLength(0);
    expect(states.at(-1)).toEqual(["closed", "Voice ended: voice is not configured: set AZURE_VOICELIVE_ENDPOINT"]);

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
    const { connection, states, timers } = harness();
    await connection.connect();
    for (let i = 0; i <= MAX_ATTEMPTS; i++) {
      FakeSocket.created.at(-1)!.drop(1011);
      timers.at(-1)?.fn();
      await Promise.resolve();
      await Promise.resolve();
    }
    expect(states.at(-1)).toEqual(["closed", "The voice connection keeps dropping. Try again later."]);
  });

  it("sends nothing while not open, and nothing after a user stop", async () => {
    const { connection, timers } = harness();
    await connection.connect();
    expect(connection.send({ type: "cancel" })).toBe(false);
    connection.close();
    FakeSocket.created[0]!.drop(1006);
    expect(timers).toHaveLength(0);
  });
});

describe("backoffDelay", () => {
  it("doubles from 500 ms up to a 10 s cap, with jitter in the upper half", () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((a) => backoffDelay(a, () => 1))).toEqual([500, 1000, 2000, 4000, 8000, 10000, 10000]);
    expect(backoffDelay(2, () => 0)).toBe(1000);
  });
});
