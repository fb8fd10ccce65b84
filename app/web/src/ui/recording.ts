/**
 * The voice page's recording consent prompt and indicator (its own module so the voice panel only
 * forwards connection events and `recording` messages to it). The prompt says what a recording is and
 * that it can be stopped; the indicator is visible text (not colour alone) and is announced.
 */
import type { ClientMessage, ServerMessage } from "../voice/protocol";
import { RecordingConsent, type ConsentView } from "../voice/recording";
import { h } from "./dom";

export interface RecordingControl {
  element: HTMLElement;
  open(): void;
  closed(): void;
  reset(): void;
  update(message: Extract<ServerMessage, { type: "recording" }>): void;
}

const TEXT: Record<ConsentView, string> = {
  hidden: "",
  ask: "",
  waiting: "Starting the recording…",
  recording: "● Recording this conversation.",
  declined: "Not recording.",
  unavailable: "Not recording",
};

export function recordingControl(send: (message: ClientMessage) => boolean): RecordingControl {
  const consent = new RecordingConsent();
  const question = h(
    "p",
    { id: "voice-consent-question" },
    "May we record this conversation (your voice and the agent's)? Recordings are kept for a limited time, " +
      "can be played back by administrators, and are deleted when you erase your data. You can stop " +
      "recording at any time.",
  );
  const allow = h("button", { type: "button", id: "voice-consent-allow" }, "Allow recording");
  const decline = h("button", { type: "button", id: "voice-consent-decline", class: "secondary" }, "Don't record");
  const prompt = h(
    "div",
    { id: "voice-consent", class: "consent", role: "group", "aria-labelledby": "voice-consent-question", hidden: true },
    question,
    h("div", { class: "actions" }, allow, decline),
  );
  const indicator = h("p", { id: "voice-recording", class: "recording-state", role: "status", hidden: true });
  const withdraw = h("button", { type: "button", id: "voice-recording-stop", class: "secondary", hidden: true }, "Stop recording");

  const render = (): void => {
    const view = consent.view;
    prompt.hidden = view !== "ask";
    indicator.hidden = view === "hidden" || view === "ask";
    indicator.dataset.state = view;
    indicator.textContent = view === "unavailable" && consent.reason ? `Not recording: ${consent.reason}.` : TEXT[view];
    withdraw.hidden = !(view === "recording" || view === "waiting");
  };
  const choose = (record: boolean): void => {
    send(consent.choose(record));
    render();
  };
  allow.addEventListener("click", () => choose(true));
  decline.addEventListener("click", () => choose(false));
  withdraw.addEventListener("click", () => choose(false));

  render();
  return {
    element: h("div", { class: "recording" }, prompt, indicator, withdraw),
    open() {
      const again = consent.open();
      if (again) send(again);
      render();
    },
    closed() {
      consent.closed();
      render();
    },
    reset() {
      consent.reset();
      render();
    },
    update(message) {
      consent.update(message);
      render();
    },
  };
}
