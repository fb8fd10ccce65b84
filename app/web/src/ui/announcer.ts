/**
 * One polite live region for the whole app. Logs that change per token (a streamed answer, a live
 * transcript) are not live themselves; what matters is said here once: "Elena is answering", then
 * the answer when it is complete.
 */
import { h } from "./dom";

export class Announcer {
  readonly element = h("div", { id: "announcer", class: "visually-hidden", role: "status", "aria-live": "polite", "aria-atomic": "true" });
  private timer: ReturnType<typeof setTimeout> | null = null;

  say(text: string): void {
    // Clearing first makes a repeated sentence count as a change; the short delay lets assistive
    // technology see the empty state before the new text.
    this.element.textContent = "";
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.element.textContent = text;
    }, 50);
  }
}
