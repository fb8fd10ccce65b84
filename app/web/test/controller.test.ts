import { describe, expect, it } from "vitest";
import { VoiceController, type Microphone, type Speaker, type VoiceEvent } from "../src/voice/controller";
import { heardPart } from "../src/voice/transcript";
import { AgentStore } from "../src/ui/agents";

class FakeSocket {
  static created: FakeSocket[] = [];
  readyState = 0;
  sent: string[] = [];
  onopen: (() => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  constructor(readonly url: string) {
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
  server(message: object): void {
    this.onmessage?.({ data: JSON.stringify(message) });
  }
  drop(code: number): void {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
}

class FakeMic implements Microphone {
  muted = false;
  running = false;
  onFrame: ((frame: Int16Array) => void) | null = null;
  constructor(private readonly refuse = false) {}
  async start(onFrame: (frame: Int16Array) => void): Promise<void> {
    if (this.refuse) throw Object.assign(new Error("denied"), { name: "NotAllowedError" });
    this.running = true;
    this.onFrame = onFrame;
  }
  async stop(): Promise<void> {
    this.running = false;
  }
}

class FakeSpeaker implements Speaker {
  receivedMs = 0;
  playedMs = 0;
  queued: number[] = [];
  enqueued: string[] = [];
  constructor(private readonly onChange: () => void) {}
  get playing(): boolean {
    return this.queued.length > 0;
  }
  async ready(): Promise<void> {}
  enqueue(base64: string): void {
    this.enqueued.push(base64);
    this.queued.push(500);
    this.receivedMs += 500;
    this.onChange();
  }
  /** One queued chunk played to its end. */
  playOne(): void {
    const ms = this.queued.shift();
    if (ms !== undefined) this.playedMs += ms;
    this.onChange();
  }
  stop(): void {
    this.queued = [];
    this.onChange();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await Promise.resolve();
};

async function live(options: { refuse?: boolean } = {}) {
  FakeSocket.created = [];
  const agents = new AgentStore();
  agents.set({ agents: [{ id: "elena", name: "Elena", title: "Analyst", accent: "#123456", expertise: [] }], current: "elena" });
  const mic = new FakeMic(options.refuse);
  let speaker!: FakeSpeaker;
  const events: VoiceEvent[] = [];
  const timers: (() => void)[] = [];
  const controller = new VoiceController({
    agents,
    url: () => "ws://x/api/v1/voice/voicelive/s1",
    protocols: async () => ["engram.v1"],
    mic,
    speaker: (onChange) => (speaker = new FakeSpeaker(onChange)),
    connection: {
      createSocket: (url) => new FakeSocket(url) as unknown as WebSocket,
      timers: { set: (fn) => (timers.push(fn) - 1) as unknown as ReturnType<typeof setTimeout>, clear: () => undefined },
    },
  });
  controller.subscribe((event) => events.push(event));
  const phases = () => events.filter((e) => e.kind === "phase").map((e) => (e as { phase: string }).phase);
  await controller.start();
  await flush();
  return { controller, mic, speaker, events, phases, timers, socket: () => FakeSocket.created.at(-1)! };
}

const lines = (events: VoiceEvent[]) => {
  const last = new Map<number, { speaker: string; text: string; interrupted: boolean }>();
  for (const e of events) if (e.kind === "line") last.set(e.line.id, { speaker: e.line.speaker, text: e.line.text, interrupted: e.line.interrupted });
  return [...last.values()];
};

describe("VoiceController phases", () => {
  it("asks for the microphone before connecting, then listens, hears, thinks and speaks", async () => {
    const { controller, mic, speaker, phases, socket } = await live();
    expect(mic.running).toBe(true);
    expect(phases().slice(0, 2)).toEqual(["starting", "connecting"]);
    socket().open();
    expect(controller.phase).toBe("listening");
    socket().server({ type: "transcription", speaker: "user", status: "listening", text: "" });
    expect(controller.phase).toBe("hearing");
    socket().server({ type: "transcription", speaker: "user", status: "complete", text: "Risks?" });
    expect(controller.phase).toBe("thinking");
    socket().server({ type: "audio", data: "AAAA", format: "audio/pcm16" });
    expect(controller.phase).toBe("speaking");
    speaker.playOne();
    expect(controller.phase).toBe("listening");
  });

  it("sends microphone frames only while not muted", async () => {
    const { controller, mic, socket } = await live();
    socket().open();
    controller.setMuted(true);
    expect(mic.muted).toBe(true);
    controller.setMuted(false);
    mic.onFrame?.(new Int16Array(4));
    expect(socket().sent.some((m) => m.includes('"audio"'))).toBe(true);
  });

  it("a refused microphone never connects and says what to do", async () => {
    const { controller, events } = await live({ refuse: true });
    expect(FakeSocket.created).toHaveLength(0);
    expect(controller.live).toBe(false);
    expect(events).toContainEqual({ kind: "error", text: expect.stringMatching(/Allow it in the browser/) });
  });

  it("a gate (consent) that says no keeps voice off", async () => {
    FakeSocket.created = [];
    const { controller } = await live();
    await controller.end();
    const before = FakeSocket.created.length;
    controller.gates.push(async () => false);
    await controller.start();
    expect(FakeSocket.created).toHaveLength(before);
    expect(controller.phase).toBe("off");
  });

  it("after giving up, the microphone is off and the conversation is over", async () => {
    const { controller, mic, socket, timers } = await live();
    socket().open();
    for (let i = 0; i <= 8; i++) {
      socket().drop(1014);
      timers.at(-1)?.();
      await flush();
    }
    expect(controller.live).toBe(false);
    expect(controller.phase).toBe("off");
    expect(mic.running).toBe(false);
  });
});

describe("VoiceController transcripts after Stop and talk-over", () => {
  it("cuts an interrupted answer to what was played and drops its late words and audio", async () => {
    const { speaker, events, socket } = await live();
    socket().open();
    const said = "one two three four five six seven eight nine ten";
    socket().server({ type: "transcription", speaker: "assistant", status: "processing", text: said });
    for (let i = 0; i < 4; i++) socket().server({ type: "audio", data: "AAAA", format: "audio/pcm16" });
    speaker.playOne();
    speaker.playOne(); // half of the audio was heard
    socket().server({ type: "transcription", speaker: "user", status: "listening", text: "" }); // talk-over
    expect(speaker.playing).toBe(false);
    // Late pieces of the cancelled answer: more text, its `complete`, more audio.
    socket().server({ type: "transcription", speaker: "assistant", status: "processing", text: `${said} eleven` });
    socket().server({ type: "transcription", speaker: "assistant", status: "complete", text: `${said} eleven twelve.` });
    socket().server({ type: "audio", data: "BBBB", format: "audio/pcm16" });
    expect(speaker.enqueued).not.toContain("BBBB");
    expect(lines(events).filter((l) => l.speaker === "assistant")).toEqual([{ speaker: "assistant", text: "one two three four five", interrupted: true }]);

    // The user's turn ends: the next answer is shown and played.
    socket().server({ type: "transcription", speaker: "user", status: "complete", text: "Stop there." });
    socket().server({ type: "transcription", speaker: "assistant", status: "processing", text: "Sure." });
    socket().server({ type: "audio", data: "CCCC", format: "audio/pcm16" });
    expect(speaker.enqueued).toContain("CCCC");
    expect(lines(events).map((l) => l.text)).toEqual(["one two three four five", "Stop there.", "Sure."]);
  });

  it("Stop cancels on the server and marks the line; with no audio yet the text stays as sent", async () => {
    const { controller, events, socket } = await live();
    socket().open();
    socket().server({ type: "transcription", speaker: "assistant", status: "processing", text: "A long" });
    controller.cancelAnswer();
    expect(socket().sent).toContain('{"type":"cancel"}');
    expect(lines(events)).toEqual([{ speaker: "assistant", text: "A long", interrupted: true }]);
  });

  it("a reset (sign-out, New conversation) emits nothing of the old conversation again", async () => {
    const { controller, events, socket, mic } = await live();
    socket().open();
    socket().server({ type: "transcription", speaker: "user", status: "processing", text: "half a private sen" });
    const before = events.length;
    await controller.reset();
    const after = events.slice(before);
    expect(after.filter((e) => e.kind === "line")).toEqual([]);
    expect(after.filter((e) => e.kind === "removed")).toHaveLength(1);
    expect(controller.transcript.lines).toEqual([]);
    expect(mic.running).toBe(false);
  });

  it("cuts at a word boundary", () => {
    expect(heardPart("alpha beta gamma delta", 0.5)).toBe("alpha beta");
    expect(heardPart("alpha beta", 1)).toBe("alpha beta");
    expect(heardPart("alpha beta", 0)).toBe("");
  });
});
