import { afterEach, describe, expect, it, vi } from "vitest";
import { Api } from "../src/api";
import { claimsChallenge, type Auth } from "../src/auth";
import { loadConfig } from "../src/config";
import { contentSecurityPolicy } from "../src/csp";
import { msalAuthority } from "../src/msal";

// What the API sends in production without the MFA context (app/security/entra.py, Microsoft's format).
const REQUEST = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';
const CHALLENGE = `Bearer realm="", authorization_uri="https://login.microsoftonline.com/t/oauth2/v2.0/authorize", error="insufficient_claims", claims="${btoa(REQUEST)}"`;

afterEach(() => vi.unstubAllGlobals());

class StepUpAuth implements Auth {
  readonly mode = "entra" as const;
  calls: [string, boolean][] = [];
  constructor(private readonly stepped: string | null) {}
  async token(): Promise<string | null> {
    return "first-token";
  }
  account(): string {
    return "alice";
  }
  async signIn(): Promise<void> {}
  async signOut(): Promise<void> {}
  async stepUp(claims: string, interactive = false): Promise<string | null> {
    this.calls.push([claims, interactive]);
    return interactive ? null : this.stepped;
  }
}

function challenged(): Response {
  return new Response(JSON.stringify({ detail: "this environment requires multi-factor authentication" }), {
    status: 401,
    headers: { "WWW-Authenticate": CHALLENGE },
  });
}

describe("the claims challenge", () => {
  it("decodes the requested claims and ignores any other 401", () => {
    expect(claimsChallenge(CHALLENGE)).toBe(REQUEST);
    expect(claimsChallenge('Bearer error="invalid_token"')).toBeNull();
    expect(claimsChallenge("Bearer")).toBeNull();
    expect(claimsChallenge(null)).toBeNull();
    expect(claimsChallenge('Bearer error="insufficient_claims", claims="%%%"')).toBeNull();
  });

  it("gets a token with those claims and retries the call once with it", async () => {
    const seen: string[] = [];
    vi.stubGlobal("fetch", async (_url: string, init: RequestInit) => {
      const auth = (init.headers as Record<string, string>).Authorization ?? "";
      seen.push(auth);
      return auth === "Bearer stepped-token" ? new Response(JSON.stringify([{ id: "elena" }])) : challenged();
    });
    const auth = new StepUpAuth("stepped-token");
    const agents = await new Api("http://api.test", auth).agents();
    expect(agents.map((a) => a.id)).toEqual(["elena"]);
    expect(seen).toEqual(["Bearer first-token", "Bearer stepped-token"]);
    expect(auth.calls).toEqual([[REQUEST, false]]);
  });

  it("sends the user to the identity provider when the silent token is challenged again", async () => {
    let calls = 0;
    vi.stubGlobal("fetch", async () => (calls++, challenged()));
    const auth = new StepUpAuth("still-without-mfa");
    await expect(new Api("http://api.test", auth).agents()).rejects.toMatchObject({ status: 401 });
    expect(calls).toBe(2); // never a loop
    expect(auth.calls).toEqual([[REQUEST, false], [REQUEST, true]]);
  });

  it("leaves a plain 401 alone", async () => {
    vi.stubGlobal("fetch", async () => new Response("{}", { status: 401, headers: { "WWW-Authenticate": "Bearer" } }));
    const auth = new StepUpAuth("unused");
    await expect(new Api("http://api.test", auth).agents()).rejects.toMatchObject({ status: 401 });
    expect(auth.calls).toEqual([]);
  });
});

describe("the sign-in authority", () => {
  const page = { protocol: "https:", host: "ui.example" };
  const entra = { VITE_AUTH_MODE: "entra", VITE_ENTRA_CLIENT_ID: "c", VITE_ENTRA_TENANT_ID: "t", VITE_API_SCOPE: "api://x/access_as_user" };

  it("is the tenant on Entra's public cloud unless the build names another", () => {
    expect(loadConfig(entra, page).entra.authority).toBe("https://login.microsoftonline.com/t");
    const local = { ...entra, VITE_ENTRA_AUTHORITY: "https://127.0.0.1:8443/t/v2.0/" };
    expect(loadConfig(local, page).entra.authority).toBe("https://127.0.0.1:8443/t/v2.0");
    expect(contentSecurityPolicy(local)).toContain("connect-src 'self' https://127.0.0.1:8443");
    expect(contentSecurityPolicy(entra)).toContain("https://login.microsoftonline.com");
  });

  it("keeps MSAL's Entra protocol for Microsoft's clouds and plain OIDC elsewhere", () => {
    expect(msalAuthority("https://login.microsoftonline.com/t")).toEqual({ knownAuthorities: [], protocolMode: "AAD" });
    expect(msalAuthority("https://login.microsoftonline.us/t").protocolMode).toBe("AAD");
    expect(msalAuthority("https://127.0.0.1:8443/t/v2.0")).toEqual({ knownAuthorities: ["127.0.0.1:8443"], protocolMode: "OIDC" });
    expect(msalAuthority("https://login.microsoftonline.com.evil.example/t").protocolMode).toBe("OIDC");
  });
});
