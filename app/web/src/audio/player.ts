/**
 * Plays the assistant's PCM16 24 kHz audio as it arrives, through a small jitter buffer
 * (PlaybackSchedule), and stops at once on barge-in or cancel.
 */
import { PROTOCOL_RATE, PlaybackSchedule, base64ToBytes, bytesToPcm16, pcm16ToFloat } from "./pcm";

export class PcmPlayer {
  private context: AudioContext | null = null;
  private readonly schedule = new PlaybackSchedule(0.08);
  private readonly sources = new Set<AudioBufferSourceNode>();
  /** Milliseconds of audio received and actually played to the end (for the status line and tests). */
  receivedMs = 0;
  playedMs = 0;

  constructor(private readonly onChange: () => void = () => undefined) {}

  /** Create/resume the output; call from a user gesture so autoplay rules allow sound. */
  async ready(): Promise<void> {
    this.context ??= new AudioContext({ latencyHint: "interactive" });
    if (this.context.state === "suspended") await this.context.resume();
  }

  get playing(): boolean {
    return this.sources.size > 0;
  }

  /** Queue one base64 PCM16 chunk. */
  enqueue(base64: string): void {
    const context = this.context;
    if (!context) return;
    const samples = pcm16ToFloat(bytesToPcm16(base64ToBytes(base64)));
    if (samples.length === 0) return;
    const buffer = context.createBuffer(1, samples.length, PROTOCOL_RATE);
    buffer.getChannelData(0).set(samples);
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    const durationMs = (samples.length / PROTOCOL_RATE) * 1000;
    source.onended = () => {
      if (!this.sources.delete(source)) return; // stopped by barge-in: not counted as played
      this.playedMs += durationMs;
      this.onChange();
    };
    this.sources.add(source);
    source.start(this.schedule.place(context.currentTime, buffer.duration));
    this.receivedMs += durationMs;
    this.onChange();
  }

  /** Barge-in / cancel: silence now and drop everything queued. */
  stop(): void {
    const playing = [...this.sources];
    this.sources.clear();
    for (const source of playing) {
      try {
        source.stop();
      } catch {
        /* already ended */
      }
    }
    this.schedule.reset();
    this.onChange();
  }

  async close(): Promise<void> {
    this.stop();
    const context = this.context;
    this.context = null;
    if (context && context.state !== "closed") await context.close();
  }
}
