/**
 * Dictation into the chat box, only where the build allows it (VITE_DICTATION=browser) and the
 * browser has the Web Speech API. It says before first use where the audio goes, and it hides
 * itself for good when the browser's speech service turns out not to be usable here.
 */
import type { DictationPolicy } from "../config";
import { h } from "./dom";

interface SpeechRecognitionLike {
  lang: string;
  interimResults: boolean;
  continuous: boolean;
  start(): void;
  stop(): void;
  onresult: ((event: { results: ArrayLike<ArrayLike<{ transcript: string }>> }) => void) | null;
  onerror: ((event: { error: string }) => void) | null;
  onend: (() => void) | null;
}

type RecognitionConstructor = new () => SpeechRecognitionLike;

function speechRecognition(): RecognitionConstructor | null {
  const w = window as unknown as { SpeechRecognition?: RecognitionConstructor; webkitSpeechRecognition?: RecognitionConstructor };
  return w.SpeechRecognition ?? w.webkitSpeechRecognition ?? null;
}

/** Errors after which dictation cannot work in this browser or network: the button goes away. */
const UNUSABLE = new Set(["network", "service-not-allowed", "language-not-supported", "audio-capture"]);

export interface Dictation {
  /** The button, or null when dictation is off or unsupported. */
  button: HTMLButtonElement | null;
  /** A short note under the box saying where dictated audio goes ("" when there is no button). */
  note: HTMLElement | null;
}

export function dictation(policy: DictationPolicy, input: HTMLTextAreaElement, showError: (text: string) => void): Dictation {
  const Recognition = policy === "browser" ? speechRecognition() : null;
  if (!Recognition) return { button: null, note: null };
  const note = h("p", { id: "chat-dictate-note", class: "hint" }, "Dictation uses your browser's speech service: your voice is sent to the browser's maker to be turned into text.");
  const button = h("button", { type: "button", id: "chat-dictate", class: "secondary", "aria-describedby": "chat-dictate-note" }, "Dictate");
  let recognition: SpeechRecognitionLike | null = null;
  button.addEventListener("click", () => {
    if (recognition) {
      recognition.stop();
      return;
    }
    const base = input.value ? `${input.value.trimEnd()} ` : "";
    recognition = new Recognition();
    recognition.lang = navigator.language || "en-US";
    recognition.interimResults = true;
    recognition.continuous = false;
    recognition.onresult = (event) => {
      let heard = "";
      for (let i = 0; i < event.results.length; i++) heard += event.results[i]?.[0]?.transcript ?? "";
      input.value = base + heard;
    };
    recognition.onerror = (event) => {
      if (event.error === "not-allowed") {
        showError("Dictation needs the microphone. Allow it in the browser's address bar, or type your message.");
      } else if (UNUSABLE.has(event.error)) {
        button.hidden = true;
        note.hidden = true;
        showError("Dictation is not available in this browser. Type your message, or talk on the Voice page.");
      } else if (event.error !== "no-speech" && event.error !== "aborted") {
        showError("Dictation stopped. Try again, or type your message.");
      }
    };
    recognition.onend = () => {
      recognition = null;
      button.textContent = "Dictate";
      input.focus();
    };
    // The label says what a press does next (no aria-pressed as well: one or the other).
    button.textContent = "Stop dictation";
    recognition.start();
  });
  return { button, note };
}
