/**
 * Build-time configuration (Vite inlines `import.meta.env.VITE_*` when `npm run build` runs).
 * Nothing here is a secret: client ids and scopes are public by design in a single-page app.
 */
import { apiBase, wsBase } from "./urls";

export type AuthMode = "poc" | "dev" | "entra";
/**
 * Dictation in the chat box. "browser" uses the Web Speech API, which in Chrome and Edge sends the
 * audio to the browser vendor's cloud speech service (a third party for the customer's data), so it
 * is off unless a build opts in; regulated stacks keep it off.
 */
export type DictationPolicy = "off" | "browser";

export interface AppConfig {
  apiBase: string;
  wsBase: string;
  authMode: AuthMode;
  dictation: DictationPolicy;
  /** `authority`: the sign-in authority; Entra's public cloud for the tenant unless VITE_ENTRA_AUTHORITY. */
  entra: { clientId: string; tenantId: string; apiScope: string; authority: string };
}

export interface RawEnv {
  VITE_API_URL?: string;
  VITE_WS_URL?: string;
  VITE_AUTH_MODE?: string;
  VITE_ENTRA_CLIENT_ID?: string;
  VITE_ENTRA_TENANT_ID?: string;
  VITE_API_SCOPE?: string;
  VITE_DICTATION?: string;
  VITE_ENTRA_AUTHORITY?: string;
}

export function parseDictation(value: string | undefined): DictationPolicy {
  const policy = (value ?? "").trim().toLowerCase() || "off";
  if (policy === "off" || policy === "browser") return policy;
  throw new Error(`VITE_DICTATION must be off or browser, got "${policy}"`);
}

/** Entra's public cloud; a sovereign cloud (or the local OpenID provider of the sign-in test) sets its own. */
export function entraAuthority(env: RawEnv): string {
  const custom = (env.VITE_ENTRA_AUTHORITY ?? "").trim().replace(/\/+$/, "");
  return custom || `https://login.microsoftonline.com/${(env.VITE_ENTRA_TENANT_ID ?? "").trim()}`;
}

export function parseAuthMode(value: string | undefined): AuthMode {
  const mode = (value ?? "").trim().toLowerCase() || "poc";
  if (mode === "poc" || mode === "dev" || mode === "entra") return mode;
  throw new Error(`VITE_AUTH_MODE must be poc, dev or entra, got "${mode}"`);
}

export function loadConfig(env: RawEnv, location: { protocol: string; host: string }): AppConfig {
  const authMode = parseAuthMode(env.VITE_AUTH_MODE);
  const entra = {
    clientId: (env.VITE_ENTRA_CLIENT_ID ?? "").trim(),
    tenantId: (env.VITE_ENTRA_TENANT_ID ?? "").trim(),
    apiScope: (env.VITE_API_SCOPE ?? "").trim(),
    authority: entraAuthority(env),
  };
  if (authMode === "entra") {
    const missing = Object.entries({
      VITE_ENTRA_CLIENT_ID: entra.clientId,
      VITE_ENTRA_TENANT_ID: entra.tenantId,
      VITE_API_SCOPE: entra.apiScope,
    })
      .filter(([, value]) => !value || value.startsWith("<"))
      .map(([name]) => name);
    if (missing.length) throw new Error(`sign-in is not configured: set ${missing.join(", ")}`);
  }
  return {
    apiBase: apiBase(env.VITE_API_URL),
    wsBase: wsBase(env.VITE_WS_URL, env.VITE_API_URL, location),
    authMode,
    dictation: parseDictation(env.VITE_DICTATION),
    entra,
  };
}
