/**
 * Audio arithmetic shared by the capture worklet and the player, kept free of browser APIs so it
 * is unit-tested: resampling to the service's 24 kHz, float <-> PCM16 (little-endian), ~40 ms
 * framing and base64 for the websocket's JSON frames.
 */

/** The voice protocol's audio: PCM16, mono, 24 kHz, both ways. */
export const PROTOCOL_RATE = 24_000;
/** Samples in one 40 ms frame at 24 kHz. */
export const FRAME_SAMPLES = (PROTOCOL_RATE * 40) / 1000;

export function floatToPcm16(input: Float32Array): Int16Array {
  const out = new Int16Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const s = Math.max(-1, Math.min(1, input[i] ?? 0));
    out[i] = s < 0 ? Math.round(s * 0x8000) : Math.round(s * 0x7fff);
  }
  return out;
}

export function pcm16ToFloat(input: Int16Array): Float32Array {
  const out = new Float32Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const s = input[i] ?? 0;
    out[i] = s < 0 ? s / 0x8000 : s / 0x7fff;
  }
  return out;
}

/** PCM16 samples -> little-endian bytes (the wire order whatever the platform's). */
export function pcm16ToBytes(samples: Int16Array): Uint8Array {
  const bytes = new Uint8Array(samples.length * 2);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < samples.length; i++) view.setInt16(i * 2, samples[i] ?? 0, true);
  return bytes;
}

/** Little-endian bytes -> PCM16 samples; a dangling odd byte is dropped. */
export function bytesToPcm16(bytes: Uint8Array): Int16Array {
  const count = Math.floor(bytes.length / 2);
  const out = new Int16Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * 2);
  for (let i = 0; i < count; i++) out[i] = view.getInt16(i * 2, true);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const step = 0x8000; // String.fromCharCode's argument list stays small
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

/** Low-pass FIR taps (Blackman-windowed sinc), unity gain at DC. `cutoff` in cycles per sample. */
export function lowPassTaps(cutoff: number, count: number): Float32Array {
  const taps = new Float32Array(count);
  const middle = (count - 1) / 2;
  let sum = 0;
  for (let n = 0; n < count; n++) {
    const x = n - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const window =
      0.42 - 0.5 * Math.cos((2 * Math.PI * n) / (count - 1)) + 0.08 * Math.cos((4 * Math.PI * n) / (count - 1));
    taps[n] = sinc * window;
    sum += sinc * window;
  }
  for (let n = 0; n < count; n++) taps[n] = (taps[n] ?? 0) / sum;
  return taps;
}

const FILTER_TAPS = 48;

/**
 * Streaming resampler (device rate -> 24 kHz): an anti-alias low-pass when downsampling, then
 * linear interpolation. Positions are kept as exact integers, so feeding a signal in chunks of
 * any size gives the same samples as feeding it whole.
 */
export class Resampler {
  readonly fromRate: number;
  readonly toRate: number;
  private readonly taps: Float32Array | null;
  private history: Float32Array;
  private previous = 0;
  /** Position of the next output sample, in units of 1/toRate input samples, from the chunk start. */
  private position = 0;

  constructor(fromRate: number, toRate: number = PROTOCOL_RATE) {
    if (!(fromRate > 0 && toRate > 0) || !Number.isInteger(fromRate) || !Number.isInteger(toRate)) {
      throw new Error(`sample rates must be positive integers, got ${fromRate} -> ${toRate}`);
    }
    this.fromRate = fromRate;
    this.toRate = toRate;
    this.taps = toRate < fromRate ? lowPassTaps((0.45 * toRate) / fromRate, FILTER_TAPS) : null;
    this.history = new Float32Array(this.taps ? this.taps.length - 1 : 0);
  }

  process(input: Float32Array): Float32Array {
    if (this.fromRate === this.toRate) return input.slice();
    const signal = this.filter(input);
    const out: number[] = [];
    const last = signal.length - 1;
    while (signal.length > 0) {
      const index = Math.floor(this.position / this.toRate);
      const frac = (this.position - index * this.toRate) / this.toRate;
      // Between our last sample and the next chunk's first: wait for that chunk.
      if (index > last || (index === last && frac > 0)) break;
      const a = index < 0 ? this.previous : (signal[index] ?? 0);
      const b = frac === 0 ? a : (signal[index + 1] ?? a);
      out.push(a + (b - a) * frac);
      this.position += this.fromRate;
    }
    if (signal.length > 0) {
      this.previous = signal[last] ?? 0;
      this.position -= signal.length * this.toRate;
    }
    return Float32Array.from(out);
  }

  private filter(input: Float32Array): Float32Array {
    const taps = this.taps;
    if (!taps) return input;
    const keep = this.history.length;
    const joined = new Float32Array(keep + input.length);
    joined.set(this.history);
    joined.set(input, keep);
    const out = new Float32Array(input.length);
    for (let n = 0; n < input.length; n++) {
      let acc = 0;
      for (let k = 0; k < taps.length; k++) acc += (taps[k] ?? 0) * (joined[n + keep - k] ?? 0);
      out[n] = acc;
    }
    this.history = joined.slice(joined.length - keep);
    return out;
  }
}

/** Cuts a PCM16 stream into fixed frames (40 ms at 24 kHz by default), keeping the remainder. */
export class Framer {
  private pending = new Int16Array(0);

  constructor(readonly frameSamples: number = FRAME_SAMPLES) {}

  push(samples: Int16Array): Int16Array[] {
    const joined = new Int16Array(this.pending.length + samples.length);
    joined.set(this.pending);
    joined.set(samples, this.pending.length);
    const frames: Int16Array[] = [];
    let offset = 0;
    while (joined.length - offset >= this.frameSamples) {
      frames.push(joined.slice(offset, offset + this.frameSamples));
      offset += this.frameSamples;
    }
    this.pending = joined.slice(offset);
    return frames;
  }

  /** What is left (shorter than a frame), e.g. when the microphone stops. */
  flush(): Int16Array {
    const rest = this.pending;
    this.pending = new Int16Array(0);
    return rest;
  }
}

/**
 * When each received chunk should start: back to back while audio keeps coming, and `lead`
 * seconds ahead of the clock after a start, an underrun or a barge-in, so network jitter does not
 * click. Pure bookkeeping; the player owns the AudioContext.
 */
export class PlaybackSchedule {
  private next = 0;

  constructor(readonly lead: number = 0.08) {}

  /** Start time for a chunk of `duration` seconds given the audio clock `now`. */
  place(now: number, duration: number): number {
    const start = this.next < now + 0.005 ? now + this.lead : this.next;
    this.next = start + duration;
    return start;
  }

  /** Seconds of audio queued beyond `now`. */
  queued(now: number): number {
    return Math.max(0, this.next - now);
  }

  reset(): void {
    this.next = 0;
  }
}
