import { describe, expect, it } from "vitest";

import { ENTRA_LOGIN_ORIGIN, connectOrigins, contentSecurityPolicy } from "../src/csp";

function directive(policy: string, name: string): string[] {
  const found = policy.split("; ").find((part) => part.startsWith(`${name} `));
  if (!found) throw new Error(`no ${name} in ${policy}`);
  return found.split(" ").slice(1);
}

describe("contentSecurityPolicy", () => {
  it("keeps a same-origin POC build to its own origin", () => {
    const policy = contentSecurityPolicy({});
    expect(directive(policy, "connect-src")).toEqual(["'self'"]);
    expect(directive(policy, "script-src")).toEqual(["'self'"]);
    expect(directive(policy, "frame-src")).toEqual(["'none'"]);
    expect(directive(policy, "object-src")).toEqual(["'none'"]);
    expect(policy).not.toContain("unsafe-inline");
    expect(policy).not.toContain("unsafe-eval");
  });

  it("allows the API origin and its websocket twin for a cross-origin build", () => {
    expect(connectOrigins({ VITE_API_URL: "https://api.example.test/base/" })).toEqual([
      "https://api.example.test",
      "wss://api.example.test",
    ]);
    expect(connectOrigins({ VITE_API_URL: "http://127.0.0.1:8082" })).toEqual([
      "http://127.0.0.1:8082",
      "ws://127.0.0.1:8082",
    ]);
  });

  it("uses VITE_WS_URL for the websocket when it is set", () => {
    expect(
      connectOrigins({ VITE_API_URL: "https://api.example.test", VITE_WS_URL: "https://voice.example.test:8443/x" }),
    ).toEqual(["https://api.example.test", "wss://voice.example.test:8443"]);
  });

  it("lets MSAL reach Entra ID and frame its silent renewal in an Entra build", () => {
    const policy = contentSecurityPolicy({ VITE_AUTH_MODE: "entra" });
    expect(directive(policy, "connect-src")).toContain(ENTRA_LOGIN_ORIGIN);
    expect(directive(policy, "frame-src")).toEqual([ENTRA_LOGIN_ORIGIN]);
  });

  it("refuses a non-http API URL instead of writing a broken policy", () => {
    expect(() => contentSecurityPolicy({ VITE_API_URL: "ftp://example.test" })).toThrow();
    expect(() => contentSecurityPolicy({ VITE_AUTH_MODE: "kerberos" })).toThrow(/VITE_AUTH_MODE/);
  });
});
