/**
 * Sign-in per environment (VITE_AUTH_MODE): POC sends no token; development sends a dev token typed
 * by the user (e.g. dev_alice_analyst, kept in this tab's sessionStorage); Entra signs in with MSAL
 * (auth code + PKCE) and gets API tokens silently. Tokens go in `Authorization: Bearer` for HTTP and
 * in the `bearer.<token>` websocket subprotocol, next to `engram.v1`.
 */
import type { AppConfig, AuthMode } from "./config";

export const DEV_TOKEN_KEY = "engram_dev_token";
export const DEV_TOKEN_PATTERN = /^dev_[A-Za-z0-9.-]{1,64}_(viewer|user|analyst|admin)$/;
export const WS_PROTOCOL = "engram.v1";

export interface Auth {
  readonly mode: AuthMode;
  /** A token for the API, or null (POC, or not signed in yet). */
  token(): Promise<string | null>;
  /** Who is signed in, for the header ("" when nobody). */
  account(): string;
  signIn(input?: string): Promise<void>;
  signOut(): Promise<void>;
  /**
   * Answer the API's claims challenge (prod MFA: the `c1` authentication context): a token carrying
   * the requested claims, silently when the identity provider can, else by redirect (`interactive`).
   * Only Entra sign-in has one.
   */
  stepUp?(claims: string, interactive?: boolean): Promise<string | null>;
}

/**
 * The `claims` of a `WWW-Authenticate: Bearer ... error="insufficient_claims", claims="<base64>"`
 * challenge, decoded to the JSON MSAL takes; null for any other answer.
 */
export function claimsChallenge(header: string | null): string | null {
  if (!header || !/^\s*bearer\b/i.test(header)) return null;
  const params = new Map<string, string>();
  for (const [, name = "", value = ""] of header.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params.set(name.toLowerCase(), value);
  const encoded = params.get("claims");
  if (params.get("error") !== "insufficient_claims" || !encoded) return null;
  try {
    const decoded = atob(encoded);
    JSON.parse(decoded);
    return decoded;
  } catch {
    return null;
  }
}

export function authHeaders(token: string | null): Record<string, string> {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** The websocket subprotocols to offer; the server echoes `engram.v1`, never the token. */
export function websocketProtocols(token: string | null): string[] {
  return token ? [WS_PROTOCOL, `bearer.${token}`] : [WS_PROTOCOL];
}

class PocAuth implements Auth {
  readonly mode = "poc" as const;
  async token(): Promise<string | null> {
    return null;
  }
  account(): string {
    return "";
  }
  async signIn(): Promise<void> {}
  async signOut(): Promise<void> {}
}

export class DevTokenAuth implements Auth {
  readonly mode = "dev" as const;
  constructor(private readonly storage: Pick<Storage, "getItem" | "setItem" | "removeItem">) {}

  async token(): Promise<string | null> {
    return this.storage.getItem(DEV_TOKEN_KEY);
  }
  account(): string {
    const token = this.storage.getItem(DEV_TOKEN_KEY);
    return token ? token.replace(/^dev_/, "").replace(/_([a-z]+)$/, " ($1)") : "";
  }
  async signIn(input = ""): Promise<void> {
    const token = input.trim();
    if (!DEV_TOKEN_PATTERN.test(token)) {
      throw new Error("A dev token looks like dev_<name>_<role>, with role viewer, user, analyst or admin.");
    }
    this.storage.setItem(DEV_TOKEN_KEY, token);
  }
  async signOut(): Promise<void> {
    this.storage.removeItem(DEV_TOKEN_KEY);
  }
}

export async function createAuth(config: AppConfig): Promise<Auth> {
  if (config.authMode === "dev") return new DevTokenAuth(window.sessionStorage);
  if (config.authMode === "entra") {
    // MSAL is loaded only where it is used, so POC and dev bundles stay small.
    const { EntraAuth } = await import("./msal");
    return EntraAuth.create(config.entra);
  }
  return new PocAuth();
}
