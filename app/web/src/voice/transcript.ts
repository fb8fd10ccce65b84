/**
 * Live transcripts from `transcription` messages: one line per turn, updated while the speaker is
 * in progress and closed on `complete`. Servers send either cumulative text or deltas while
 * processing; both are handled (a text that extends the line replaces it, anything else appends).
 *
 * After Stop or talk-over (barge-in) the assistant's line is closed, marked interrupted and cut to
 * what was played; words of the cancelled answer that still arrive (late deltas, the `complete` the
 * server sends when the cancelled response ends) are dropped instead of forming a phantom line.
 */
import type { Speaker, TranscriptStatus } from "./protocol";

export interface TranscriptLine {
  id: number;
  speaker: Speaker;
  /** What is shown: for an interrupted line, only the part that was heard. */
  text: string;
  final: boolean;
  interrupted: boolean;
}

/** The first `fraction` of `text`, cut back to a word boundary (what was heard of an answer). */
export function heardPart(text: string, fraction: number): string {
  if (fraction >= 1) return text;
  if (fraction <= 0) return "";
  const cut = Math.floor(text.length * fraction);
  const space = text.lastIndexOf(" ", cut);
  return text.slice(0, space > 0 ? space : cut).trimEnd();
}

export class Transcript {
  readonly lines: TranscriptLine[] = [];
  private nextId = 1;
  /** The whole text of the answer that was cut off: later messages extending it are dropped. */
  private cancelled: string | null = null;

  /**
   * Applies one message; returns the line it touched, or null when the message belongs to a
   * cancelled answer and was dropped.
   */
  apply(speaker: Speaker, status: TranscriptStatus, text: string): TranscriptLine | null {
    if (speaker === "assistant" && this.cancelled !== null) {
      if (this.isCancelledText(text)) return null;
      this.cancelled = null; // a new answer
    }
    if (speaker === "user" && status !== "listening") this.cancelled = null; // the next answer follows
    let line = this.open(speaker);
    if (!line) {
      line = { id: this.nextId++, speaker, text: "", final: false, interrupted: false };
      this.lines.push(line);
    }
    if (status === "complete") {
      if (text) line.text = text;
      line.final = true;
    } else if (status === "processing" && text) {
      line.text = text.startsWith(line.text) ? text : line.text + text;
    }
    return line;
  }

  /** True while an interrupted answer's leftovers may still arrive (its audio is dropped too). */
  get dropping(): boolean {
    return this.cancelled !== null;
  }

  private isCancelledText(text: string): boolean {
    const cancelled = this.cancelled ?? "";
    if (!text) return true; // an empty update can only close the cancelled line
    return text.startsWith(cancelled) || cancelled.startsWith(text) || cancelled.endsWith(text);
  }

  /** The speaker's unfinished line, if any. */
  open(speaker: Speaker): TranscriptLine | undefined {
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i];
      if (line && line.speaker === speaker) return line.final ? undefined : line;
    }
    return undefined;
  }

  /**
   * The conversation ended: drop lines that never got any text (a "listening" placeholder would
   * otherwise stay on screen) and close the rest. Returns the ids of the dropped lines.
   */
  end(): number[] {
    const dropped: number[] = [];
    this.cancelled = null;
    for (let i = this.lines.length - 1; i >= 0; i--) {
      const line = this.lines[i];
      if (!line || line.final) continue;
      if (line.text) {
        line.final = true;
      } else {
        dropped.push(line.id);
        this.lines.splice(i, 1);
      }
    }
    return dropped;
  }

  /**
   * Stop or barge-in: closes the unfinished assistant line, cut to the `heard` fraction of it (1 when
   * unknown), and marks it interrupted. Returns the line, or undefined when no answer was open.
   */
  interrupt(heard = 1): TranscriptLine | undefined {
    const line = this.open("assistant");
    if (!line) return undefined;
    this.cancelled = line.text;
    line.text = heardPart(line.text, heard);
    line.final = true;
    line.interrupted = true;
    return line;
  }

  /**
   * Talk-over after the answer's text was complete but while its audio still played: the last line
   * (when it is that answer) is cut to what was heard and marked interrupted.
   */
  interruptLast(heard: number): TranscriptLine | undefined {
    const line = this.lines.at(-1);
    if (!line || line.speaker !== "assistant" || line.interrupted) return undefined;
    line.text = heardPart(line.text, heard);
    line.final = true;
    line.interrupted = true;
    return line;
  }

  clear(): void {
    this.lines.length = 0;
    this.cancelled = null;
  }
}
