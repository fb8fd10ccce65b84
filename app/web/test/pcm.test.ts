import { describe, expect, it } from "vitest";
import {
  FRAME_SAMPLES,
  Framer,
  PlaybackSchedule,
  Resampler,
  base64ToBytes,
  bytesToBase64,
  bytesToPcm16,
  floatToPcm16,
  pcm16ToBytes,
  pcm16ToFloat,
} from "../src/audio/pcm";

function sine(freq: number, rate: number, seconds: number, amplitude = 0.5): Float32Array {
  const out = new Float32Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = amplitude * Math.sin((2 * Math.PI * freq * i) / rate);
  return out;
}

function rms(signal: Float32Array, skip = 0): number {
  let sum = 0;
  for (let i = skip; i < signal.length; i++) sum += (signal[i] ?? 0) ** 2;
  return Math.sqrt(sum / (signal.length - skip));
}

/** Sign changes per second: 2 x the frequency of a clean sine. */
function zeroCrossingRate(signal: Float32Array, rate: number, skip: number): number {
  let crossings = 0;
  for (let i = skip + 1; i < signal.length; i++) {
    if ((signal[i - 1] ?? 0) < 0 !== (signal[i] ?? 0) < 0) crossings++;
  }
  return crossings / ((signal.length - skip) / rate);
}

describe("PCM16 conversion", () => {
  it("maps full scale to the int16 limits and clamps beyond", () => {
    expect(Array.from(floatToPcm16(Float32Array.from([0, 1, -1, 2, -2, 0.5])))).toEqual([
      0, 32767, -32768, 32767, -32768, 16384,
    ]);
  });

  it("round-trips within one quantisation step", () => {
    const input = Float32Array.from([0.25, -0.25, 0.999, -0.999, 0.0001]);
    const back = pcm16ToFloat(floatToPcm16(input));
    input.forEach((value, i) => expect(Math.abs((back[i] ?? 0) - value)).toBeLessThan(1 / 32767));
  });

  it("writes little-endian bytes and reads them back", () => {
    const bytes = pcm16ToBytes(Int16Array.from([1, -2, 0x1234]));
    expect(Array.from(bytes)).toEqual([0x01, 0x00, 0xfe, 0xff, 0x34, 0x12]);
    expect(Array.from(bytesToPcm16(bytes))).toEqual([1, -2, 0x1234]);
  });

  it("drops a dangling odd byte", () => {
    expect(Array.from(bytesToPcm16(Uint8Array.from([0x01, 0x00, 0x07])))).toEqual([1]);
  });

  it("base64 round-trips a 40 ms frame and matches the standard encoding", () => {
    const frame = new Int16Array(FRAME_SAMPLES).map((_, i) => (i * 37) % 65536 - 32768);
    const encoded = bytesToBase64(pcm16ToBytes(frame));
    expect(bytesToBase64(pcm16ToBytes(Int16Array.from([1, -2, 0x1234])))).toBe("AQD+/zQS");
    expect(Array.from(bytesToPcm16(base64ToBytes(encoded)))).toEqual(Array.from(frame));
  });
});

describe("Resampler", () => {
  it("passes 24 kHz through untouched", () => {
    const input = sine(440, 24_000, 0.01);
    expect(Array.from(new Resampler(24_000).process(input))).toEqual(Array.from(input));
  });

  it.each([48_000, 44_100, 16_000, 8_000])("turns %i Hz into 24 kHz with the right length", (rate) => {
    const out = new Resampler(rate).process(sine(440, rate, 1));
    // Upsampling holds back the samples that need the next chunk's first input sample.
    expect(24_000 - out.length).toBeGreaterThanOrEqual(0);
    expect(24_000 - out.length).toBeLessThanOrEqual(Math.ceil(24_000 / rate));
  });

  it.each([48_000, 44_100, 16_000])("keeps a 440 Hz tone at 440 Hz from %i Hz", (rate) => {
    const out = new Resampler(rate).process(sine(440, rate, 1));
    expect(zeroCrossingRate(out, 24_000, 200)).toBeGreaterThan(2 * 440 - 4);
    expect(zeroCrossingRate(out, 24_000, 200)).toBeLessThan(2 * 440 + 4);
    expect(rms(out, 200)).toBeGreaterThan(0.5 / Math.SQRT2 - 0.02);
  });

  it("keeps DC level (unity gain)", () => {
    const out = new Resampler(48_000).process(new Float32Array(4800).fill(0.3));
    expect(out[out.length - 1]).toBeCloseTo(0.3, 4);
  });

  it("removes tones above the new Nyquist instead of folding them back", () => {
    const out = new Resampler(48_000).process(sine(20_000, 48_000, 0.5));
    expect(rms(out, 100)).toBeLessThan(0.01);
  });

  it("gives the same samples whatever the chunk sizes (AudioWorklet quanta of 128)", () => {
    for (const rate of [48_000, 44_100, 16_000]) {
      const input = sine(300, rate, 0.3);
      const whole = new Resampler(rate).process(input);
      const chunked = new Resampler(rate);
      const parts: number[] = [];
      for (let i = 0; i < input.length; i += 128) parts.push(...chunked.process(input.subarray(i, i + 128)));
      expect(parts.length).toBe(whole.length);
      parts.forEach((value, i) => expect(value).toBeCloseTo(whole[i] ?? NaN, 5));
    }
  });

  it("rejects nonsense rates", () => {
    expect(() => new Resampler(0)).toThrow(/positive integers/);
    expect(() => new Resampler(44_100.5)).toThrow(/positive integers/);
  });
});

describe("Framer", () => {
  it("cuts 40 ms frames and keeps the remainder for the next push", () => {
    const framer = new Framer();
    expect(FRAME_SAMPLES).toBe(960);
    expect(framer.push(new Int16Array(500))).toHaveLength(0);
    const frames = framer.push(new Int16Array(2000).fill(7));
    expect(frames.map((f) => f.length)).toEqual([960, 960]);
    expect(frames[0]?.[0]).toBe(0);
    expect(frames[0]?.[500]).toBe(7);
    expect(framer.flush().length).toBe(2500 - 1920);
    expect(framer.flush().length).toBe(0);
  });
});

describe("PlaybackSchedule (jitter buffer)", () => {
  it("starts after the lead, then plays chunks back to back", () => {
    const schedule = new PlaybackSchedule(0.1);
    expect(schedule.place(10, 0.04)).toBeCloseTo(10.1);
    expect(schedule.place(10.01, 0.04)).toBeCloseTo(10.14);
    expect(schedule.queued(10.02)).toBeCloseTo(0.16);
  });

  it("re-buffers after an underrun instead of starting in the past", () => {
    const schedule = new PlaybackSchedule(0.1);
    schedule.place(0, 0.04);
    expect(schedule.place(5, 0.04)).toBeCloseTo(5.1);
  });

  it("forgets queued audio on reset (barge-in)", () => {
    const schedule = new PlaybackSchedule(0.05);
    schedule.place(1, 2);
    schedule.reset();
    expect(schedule.queued(1.5)).toBe(0);
    expect(schedule.place(1.5, 0.04)).toBeCloseTo(1.55);
  });
});
