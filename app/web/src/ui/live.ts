/**
 * The global live indicator: while a voice conversation runs, every page shows it in the header
 * with its phase, Mute and End, so the microphone is never live without the user seeing it.
 */
import type { VoiceController } from "../voice/controller";
import { h } from "./dom";

const SHORT: Record<string, string> = {
  starting: "starting",
  connecting: "connecting",
  listening: "listening",
  hearing: "hearing you",
  thinking: "thinking",
  speaking: "speaking",
  reconnecting: "reconnecting",
};

export function liveIndicator(controller: VoiceController): HTMLElement {
  const label = h("span", { class: "live-label" });
  const mute = h("button", { type: "button", id: "live-mute", class: "secondary small" }, "Mute");
  const end = h("button", { type: "button", id: "live-end", class: "secondary small" }, "End voice");
  const element = h(
    "div",
    { id: "voice-live", class: "live-indicator", hidden: true, "data-phase": "off" },
    h("span", { class: "live-dot", "aria-hidden": "true" }),
    label,
    h("a", { href: "/voice", class: "live-link" }, "Open voice"),
    mute,
    end,
  );
  const render = (): void => {
    const phase = controller.phase;
    element.hidden = phase === "off";
    element.dataset.phase = phase;
    element.dataset.muted = String(controller.muted);
    label.textContent = controller.muted ? "Voice is live, microphone muted" : `Voice is live: ${SHORT[phase] ?? phase}`;
    mute.textContent = controller.muted ? "Unmute" : "Mute";
  };
  controller.subscribe((event) => {
    if (event.kind === "phase" || event.kind === "muted") render();
  });
  mute.addEventListener("click", () => controller.setMuted(!controller.muted));
  end.addEventListener("click", () => void controller.end());
  render();
  return element;
}
