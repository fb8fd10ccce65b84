import { describe, expect, it } from "vitest";
import { loadConfig, parseAuthMode } from "../src/config";
import { apiBase, apiUrl, toWebSocketUrl, voiceSocketUrl, wsBase } from "../src/urls";

const page = { protocol: "https:", host: "ui.example.test" };

describe("API and websocket URLs", () => {
  it("uses the page's own origin when nothing is configured", () => {
    expect(apiBase(undefined)).toBe("");
    expect(apiUrl("", "/api/v1/agents")).toBe("/api/v1/agents");
    expect(wsBase(undefined, undefined, page)).toBe("wss://ui.example.test");
    expect(wsBase("", "", { protocol: "http:", host: "127.0.0.1:8082" })).toBe("ws://127.0.0.1:8082");
  });

  it("turns https into wss and http into ws", () => {
    expect(toWebSocketUrl("https://api.example.test")).toBe("wss://api.example.test");
    expect(toWebSocketUrl("http://127.0.0.1:8082/")).toBe("ws://127.0.0.1:8082");
    expect(toWebSocketUrl("wss://already.example.test")).toBe("wss://already.example.test");
    expect(() => toWebSocketUrl("ftp://x.example.test")).toThrow(/not an http/);
  });

  it("derives the websocket base from VITE_API_URL unless VITE_WS_URL is set", () => {
    expect(wsBase(undefined, "https://api.example.test/", page)).toBe("wss://api.example.test");
    expect(wsBase("https://voice.example.test", "https://api.example.test", page)).toBe("wss://voice.example.test");
  });

  it("keeps a path prefix on the API base and strips trailing slashes", () => {
    expect(apiBase("https://gw.example.test/engram/")).toBe("https://gw.example.test/engram");
    expect(apiUrl("https://gw.example.test/engram", "/api/v1/chat")).toBe("https://gw.example.test/engram/api/v1/chat");
    expect(() => apiBase("javascript:alert(1)")).toThrow(/http\(s\)/);
  });

  it("puts the session id in the voice path, encoded", () => {
    expect(voiceSocketUrl("wss://api.example.test", "abc-123")).toBe(
      "wss://api.example.test/api/v1/voice/voicelive/abc-123",
    );
    expect(voiceSocketUrl("ws://h", "a/b?c")).toBe("ws://h/api/v1/voice/voicelive/a%2Fb%3Fc");
    expect(voiceSocketUrl("ws://h", "s1", "marcus")).toBe("ws://h/api/v1/voice/voicelive/s1?agent=marcus");
  });
});

describe("build-time configuration", () => {
  it("defaults to POC on the same origin", () => {
    const config = loadConfig({}, page);
    expect(config).toMatchObject({ apiBase: "", wsBase: "wss://ui.example.test", authMode: "poc" });
  });

  it("accepts the three auth modes and nothing else", () => {
    expect(parseAuthMode("DEV")).toBe("dev");
    expect(parseAuthMode(" entra ")).toBe("entra");
    expect(() => parseAuthMode("none")).toThrow(/poc, dev or entra/);
  });

  it("names every missing or placeholder Entra setting", () => {
    expect(() =>
      loadConfig({ VITE_AUTH_MODE: "entra", VITE_ENTRA_CLIENT_ID: "<CUSTOMER_UI_APP_CLIENT_ID>" }, page),
    ).toThrow("sign-in is not configured: set VITE_ENTRA_CLIENT_ID, VITE_ENTRA_TENANT_ID, VITE_API_SCOPE");
    const config = loadConfig(
      {
        VITE_AUTH_MODE: "entra",
        VITE_ENTRA_CLIENT_ID: "11111111-2222-3333-4444-555555555555",
        VITE_ENTRA_TENANT_ID: "66666666-7777-8888-9999-000000000000",
        VITE_API_SCOPE: "api://engram/access_as_user",
        VITE_API_URL: "https://api.example.test",
      },
      page,
    );
    expect(config.wsBase).toBe("wss://api.example.test");
    expect(config.entra.apiScope).toBe("api://engram/access_as_user");
  });
});
