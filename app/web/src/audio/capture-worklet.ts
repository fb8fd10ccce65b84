/**
 * AudioWorklet processor: microphone samples at the device rate -> 24 kHz mono PCM16 in 40 ms
 * frames, posted (transferred) to the main thread. Runs on the audio thread, so the UI thread
 * never touches raw samples.
 */
import { FRAME_SAMPLES, Framer, PROTOCOL_RATE, Resampler, floatToPcm16 } from "./pcm";

// The AudioWorkletGlobalScope is not in TypeScript's DOM library; these are its parts used here.
declare const sampleRate: number;
declare function registerProcessor(name: string, processor: unknown): void;
declare class AudioWorkletProcessor {
  readonly port: MessagePort;
}

export const PROCESSOR_NAME = "engram-capture";

class CaptureProcessor extends AudioWorkletProcessor {
  private readonly resampler = new Resampler(Math.round(sampleRate), PROTOCOL_RATE);
  private readonly framer = new Framer(FRAME_SAMPLES);
  private running = true;

  constructor() {
    super();
    this.port.onmessage = (event: MessageEvent) => {
      if (event.data === "stop") this.running = false;
    };
  }

  process(inputs: Float32Array[][]): boolean {
    const channels = inputs[0];
    const first = channels?.[0];
    if (first && first.length > 0) {
      // Downmix to mono when the device gives more than one channel.
      let mono = first;
      if (channels.length > 1) {
        mono = new Float32Array(first.length);
        for (const channel of channels) for (let i = 0; i < mono.length; i++) mono[i] = (mono[i] ?? 0) + (channel[i] ?? 0) / channels.length;
      }
      for (const frame of this.framer.push(floatToPcm16(this.resampler.process(mono)))) {
        this.port.postMessage(frame, [frame.buffer]);
      }
    }
    return this.running;
  }
}

registerProcessor(PROCESSOR_NAME, CaptureProcessor);
