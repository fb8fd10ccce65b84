/**
 * Live transcripts from `transcription` messages: one line per turn, updated while the speaker is
 * in progress and closed on `complete`. Servers send either cumulative text or deltas while
 * processing; both are handled (a text that extends the line replaces it, anything else appends).
 */
import type { Speaker, TranscriptStatus } from "./protocol";

export interface TranscriptLine {
  id: number;
  speaker: Speaker;
  text: string;
  final: boolean;
}

export class Transcript {
  readonly lines: TranscriptLine[] = [];
  private nextId = 1;

  /** Applies one message; returns the line it touched. */
  apply(speaker: Speaker, status: TranscriptStatus, text: string): TranscriptLine {
    let line = this.open(speaker);
    if (!line) {
      line = { id: this.nextId++, speaker, text: "", final: false };
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

  /** Closes an interrupted assistant line (barge-in, cancel) so the next answer starts afresh. */
  interrupt(speaker: Speaker): void {
    const line = this.open(speaker);
    if (line) line.final = true;
  }
}
