import { describe, expect, it } from "vitest";
import { count, tryAgainIn, voiceClosedText, voiceServerText } from "../src/wording";
import { keyPolicy } from "../src/ui/device";
import { starterPrompts } from "../src/ui/empty";
import { parseDictation } from "../src/config";

describe("wording", () => {
  it("pluralises counts", () => {
    expect(count(1, "second")).toBe("1 second");
    expect(count(2, "second")).toBe("2 seconds");
    expect(tryAgainIn(0.2)).toBe("Try again in 1 second.");
    expect(tryAgainIn(3)).toBe("Try again in 3 seconds.");
  });

  it("never shows a raw voice server string, and says what to do next", () => {
    const raw = [
      "voice is not configured: set AZURE_VOICELIVE_ENDPOINT",
      "voice is at capacity (20 sessions); try again shortly",
      "the voice service refused the app's credentials (HTTP 403)",
      "the voice service reported an error (server_error)",
      "something nobody planned for",
    ];
    for (const message of raw) {
      const text = voiceServerText(message);
      expect(text).not.toContain(message);
      expect(text).not.toMatch(/AZURE_|HTTP \d|server_error/);
      expect(text).toMatch(/\.$/);
    }
    expect(voiceServerText("voice is at capacity (20 sessions)")).toMatch(/Try again in a minute/);
  });

  it("says when reconnecting and that the microphone is off after giving up", () => {
    expect(voiceClosedText({ why: "retrying", attempt: 1, inMs: 400 })).toMatch(/Reconnecting in 1 second…/);
    expect(voiceClosedText({ why: "retrying", attempt: 3, inMs: 3900 })).toMatch(/4 seconds/);
    expect(voiceClosedText({ why: "gave-up" })).toMatch(/microphone is off/);
  });
});

describe("device hints", () => {
  it("Enter sends with a keyboard; on touch screens Enter is a new line and the hint says Tap Send", () => {
    expect(keyPolicy(false)).toMatchObject({ enterSends: true, hint: expect.stringMatching(/Shift\+Enter/) });
    expect(keyPolicy(true)).toMatchObject({ enterSends: false, hint: expect.stringMatching(/Tap Send/) });
    expect(keyPolicy(true).hint).not.toMatch(/Shift/);
  });
});

describe("empty state", () => {
  it("builds starter prompts from the agent's expertise", () => {
    const agent = { id: "e", name: "Elena", title: "Analyst", accent: "#000", expertise: ["requirements", "user stories", "risk", "more"] };
    expect(starterPrompts(agent)).toEqual([
      "Where should I start with requirements?",
      "Where should I start with user stories?",
      "Where should I start with risk?",
    ]);
    expect(starterPrompts(undefined)).toEqual([]);
  });
});

describe("dictation policy", () => {
  it("is off unless the build opts in, and a typo is an error", () => {
    expect(parseDictation(undefined)).toBe("off");
    expect(parseDictation("Browser")).toBe("browser");
    expect(() => parseDictation("on")).toThrow(/VITE_DICTATION must be off or browser/);
  });
});
