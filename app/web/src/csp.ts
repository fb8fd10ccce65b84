/**
 * The UI's Content-Security-Policy, computed at build time from the same VITE_* settings the bundle
 * uses, and injected into index.html as a <meta> tag (vite.config.ts), so it holds wherever the build
 * is served: Static Web Apps, `engram serve`, or any static server. Only what the UI needs: its own
 * scripts and styles, the API and voice websocket origins, and Entra ID's sign-in origin for MSAL.
 * `frame-ancestors` cannot be set from a <meta>; X-Frame-Options: DENY covers it on both hosts.
 */
import { entraAuthority, parseAuthMode, type RawEnv } from "./config";
import { apiBase, toWebSocketUrl } from "./urls";

/** Where MSAL talks to Entra ID (metadata, tokens) and runs its silent-renewal iframe. */
export const ENTRA_LOGIN_ORIGIN = "https://login.microsoftonline.com";

function originOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.protocol}//${parsed.host}`;
}

/** Origins the page connects to besides its own ('self' also covers same-host ws/wss). */
export function connectOrigins(env: RawEnv): string[] {
  const api = (env.VITE_API_URL ?? "").trim();
  const ws = (env.VITE_WS_URL ?? "").trim();
  const origins = new Set<string>();
  if (api) {
    origins.add(originOf(apiBase(api)));
    if (!ws) origins.add(originOf(toWebSocketUrl(api)));
  }
  if (ws) origins.add(originOf(toWebSocketUrl(ws)));
  if (parseAuthMode(env.VITE_AUTH_MODE) === "entra") origins.add(loginOrigin(env));
  return [...origins];
}

/** The sign-in authority's origin (Entra's unless VITE_ENTRA_AUTHORITY names another). */
export function loginOrigin(env: RawEnv): string {
  return (env.VITE_ENTRA_AUTHORITY ?? "").trim() ? originOf(entraAuthority(env)) : ENTRA_LOGIN_ORIGIN;
}

export function contentSecurityPolicy(env: RawEnv): string {
  const entra = parseAuthMode(env.VITE_AUTH_MODE) === "entra";
  const directives: [string, string[]][] = [
    ["default-src", ["'self'"]],
    ["script-src", ["'self'"]], // the bundle and the capture AudioWorklet module; nothing inline
    ["style-src", ["'self'"]], // the built stylesheet; accents are set through the CSSOM
    ["img-src", ["'self'", "data:"]],
    ["media-src", ["'self'", "blob:"]],
    ["connect-src", ["'self'", ...connectOrigins(env)]],
    ["frame-src", entra ? [loginOrigin(env)] : ["'none'"]],
    ["worker-src", ["'self'"]],
    ["object-src", ["'none'"]],
    ["base-uri", ["'self'"]],
    ["form-action", ["'self'"]],
  ];
  return directives.map(([name, sources]) => `${name} ${sources.join(" ")}`).join("; ");
}
