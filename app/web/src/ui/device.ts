/**
 * What the keyboard can do on this device. On phones and tablets the on-screen keyboard has no
 * Shift+Enter, so Enter starts a new line there and the Send button sends; with a physical keyboard
 * Enter sends and Shift+Enter starts a new line. The hint under the message box says which.
 */
export interface KeyPolicy {
  enterSends: boolean;
  hint: string;
}

export function keyPolicy(coarsePointer: boolean): KeyPolicy {
  return coarsePointer
    ? { enterSends: false, hint: "Enter starts a new line. Tap Send to send." }
    : { enterSends: true, hint: "Enter sends, Shift+Enter starts a new line. Escape stops an answer." };
}

/** True on touch-first devices (no fine pointer such as a mouse or trackpad). */
export function isCoarsePointer(): boolean {
  return typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches && !matchMedia("(pointer: fine)").matches;
}
