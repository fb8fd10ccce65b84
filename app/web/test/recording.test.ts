import { describe, expect, it } from "vitest";
import { parseServerMessage } from "../src/voice/protocol";
import { RecordingConsent } from "../src/voice/recording";

describe("recording messages", () => {
  it("parses the server's recording state, with or without a reason", () => {
    expect(parseServerMessage('{"type":"recording","state":"on"}')).toEqual({ type: "recording", state: "on" });
    expect(parseServerMessage('{"type":"recording","state":"off","reason":"not enabled"}')).toEqual({
      type: "recording",
      state: "off",
      reason: "not enabled",
    });
    expect(parseServerMessage('{"type":"recording","state":"maybe"}')).toBeNull();
  });
});

describe("recording consent", () => {
  it("asks once connected and records nothing before the user allows it", () => {
    const consent = new RecordingConsent();
    expect(consent.view).toBe("hidden");
    expect(consent.open()).toBeNull(); // no consent is ever sent on the user's behalf
    expect(consent.view).toBe("ask");
  });

  it("shows recording only once the server confirms it", () => {
    const consent = new RecordingConsent();
    consent.open();
    expect(consent.choose(true)).toEqual({ type: "consent", recording: true });
    expect(consent.view).toBe("waiting");
    consent.update({ type: "recording", state: "on" });
    expect(consent.view).toBe("recording");
  });

  it("withdrawal stops the indicator at once and sends recording false", () => {
    const consent = new RecordingConsent();
    consent.open();
    consent.choose(true);
    consent.update({ type: "recording", state: "on" });
    expect(consent.choose(false)).toEqual({ type: "consent", recording: false });
    expect(consent.view).toBe("declined");
    consent.update({ type: "recording", state: "on" }); // a late "on" never shows after withdrawal
    expect(consent.view).toBe("declined");
  });

  it("says why when the server refuses or its store fails", () => {
    const consent = new RecordingConsent();
    consent.open();
    consent.choose(true);
    consent.update({ type: "recording", state: "off", reason: "recording is not enabled in this environment" });
    expect(consent.view).toBe("unavailable");
    expect(consent.reason).toContain("not enabled");
  });

  it("asks the new server session again after a reconnect, and a new conversation asks the user again", () => {
    const consent = new RecordingConsent();
    consent.open();
    consent.choose(true);
    consent.update({ type: "recording", state: "on" });
    consent.closed();
    expect(consent.view).toBe("hidden");
    expect(consent.open()).toEqual({ type: "consent", recording: true });
    expect(consent.view).toBe("waiting"); // not "recording" until this session confirms
    consent.reset();
    expect(consent.open()).toBeNull();
    expect(consent.view).toBe("ask");
  });
});
