/**
 * Microphone capture: getUserMedia (echo cancellation and noise suppression on) -> AudioWorklet
 * -> 40 ms PCM16 frames at 24 kHz, whatever rate the device runs at.
 */
import workletUrl from "./capture-worklet.ts?worker&url";

const PROCESSOR_NAME = "engram-capture";

export class MicCapture {
  private context: AudioContext | null = null;
  private stream: MediaStream | null = null;
  private node: AudioWorkletNode | null = null;
  private isMuted = false;

  /** Muted: the tracks are disabled (the device records silence) and no frame is delivered. */
  set muted(value: boolean) {
    this.isMuted = value;
    for (const track of this.stream?.getAudioTracks() ?? []) track.enabled = !value;
  }

  get muted(): boolean {
    return this.isMuted;
  }

  get live(): boolean {
    return this.stream !== null;
  }

  get deviceRate(): number | null {
    return this.context?.sampleRate ?? null;
  }

  async start(onFrame: (frame: Int16Array) => void): Promise<void> {
    if (!navigator.mediaDevices?.getUserMedia) throw new Error("This browser cannot record audio.");
    this.isMuted = false;
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true, autoGainControl: true },
    });
    const context = new AudioContext({ latencyHint: "interactive" });
    this.context = context;
    await context.audioWorklet.addModule(workletUrl);
    const source = context.createMediaStreamSource(this.stream);
    const node = new AudioWorkletNode(context, PROCESSOR_NAME, { numberOfInputs: 1, numberOfOutputs: 1, channelCount: 1 });
    node.port.onmessage = (event: MessageEvent<Int16Array>) => {
      if (!this.isMuted) onFrame(event.data);
    };
    // A silent sink keeps the graph pulling the worklet without playing the microphone back.
    const mute = context.createGain();
    mute.gain.value = 0;
    source.connect(node).connect(mute).connect(context.destination);
    this.node = node;
    await context.resume();
  }

  async stop(): Promise<void> {
    this.node?.port.postMessage("stop");
    this.node?.disconnect();
    this.node = null;
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
    const context = this.context;
    this.context = null;
    if (context && context.state !== "closed") await context.close();
  }
}
