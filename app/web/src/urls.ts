/**
 * Where the API and the voice websocket live. Both come from build-time settings (VITE_API_URL,
 * VITE_WS_URL) so one static build can target any API host; unset means "same origin as the page".
 */

/** The API origin (no trailing slash), or "" for same origin. */
export function apiBase(configured: string | undefined): string {
  const value = (configured ?? "").trim();
  if (!value) return "";
  const url = new URL(value);
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new Error(`VITE_API_URL must be an http(s) URL, got ${url.protocol}`);
  }
  return value.replace(/\/+$/, "");
}

/** `base` + `path` (path starts with "/"). Same-origin when base is "". */
export function apiUrl(base: string, path: string): string {
  return `${base}${path.startsWith("/") ? path : `/${path}`}`;
}

/** http -> ws, https -> wss; ws(s) URLs pass through. */
export function toWebSocketUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol === "https:") parsed.protocol = "wss:";
  else if (parsed.protocol === "http:") parsed.protocol = "ws:";
  else if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new Error(`not an http(s) or ws(s) URL: ${parsed.protocol}`);
  }
  return parsed.toString().replace(/\/+$/, "");
}

/**
 * The websocket origin: VITE_WS_URL if set, else derived from VITE_API_URL, else from the page's own
 * location (an https page gets wss).
 */
export function wsBase(
  configuredWs: string | undefined,
  configuredApi: string | undefined,
  location: { protocol: string; host: string },
): string {
  const ws = (configuredWs ?? "").trim();
  if (ws) return toWebSocketUrl(ws);
  const api = (configuredApi ?? "").trim();
  if (api) return toWebSocketUrl(api);
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
}

/**
 * The voice websocket of one session: `<ws base>/api/v1/voice/voicelive/<session id>`, with the
 * agent to start with as `?agent=` (so a reconnect resumes with the agent the user chose).
 */
export function voiceSocketUrl(base: string, sessionId: string, agentId?: string): string {
  const url = `${base}/api/v1/voice/voicelive/${encodeURIComponent(sessionId)}`;
  return agentId ? `${url}?agent=${encodeURIComponent(agentId)}` : url;
}
