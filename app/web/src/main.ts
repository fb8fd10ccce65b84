/**
 * Engram UI entry: reads the build-time config, signs in (per VITE_AUTH_MODE), loads the agents and
 * routes between the chat panel (/) and the voice panel (/voice). Both panels stay mounted and share
 * the tab's session id, so a voice conversation keeps going while the user reads the chat (the live
 * indicator in the header says so on every page) and its turns appear in the chat history.
 * A reload (or a sign-in redirect) redraws the stored conversation; a change of account starts a
 * clean screen and a new session.
 */
import "./styles.css";
import { Api, ApiError } from "./api";
import { MicCapture } from "./audio/capture";
import { PcmPlayer } from "./audio/player";
import { createAuth, websocketProtocols } from "./auth";
import { loadConfig } from "./config";
import { resetSessionId, sessionId, setSessionId } from "./session";
import { voiceSocketUrl } from "./urls";
import { VoiceController } from "./voice/controller";
import { AgentStore } from "./ui/agents";
import { Announcer } from "./ui/announcer";
import { chatPanel, DRAFT_KEY } from "./ui/chat";
import { isCoarsePointer, keyPolicy } from "./ui/device";
import { h } from "./ui/dom";
import { liveIndicator } from "./ui/live";
import { renderSignIn } from "./ui/signin";
import { voicePanel } from "./ui/voice";

const ROUTES: Record<string, { title: string; panel: "chat" | "voice" }> = {
  "/": { title: "Chat", panel: "chat" },
  "/chat": { title: "Chat", panel: "chat" },
  "/voice": { title: "Voice", panel: "voice" },
};

async function boot(): Promise<void> {
  const main = document.getElementById("main") as HTMLElement;
  let config;
  try {
    config = loadConfig(import.meta.env, window.location);
  } catch (failure) {
    main.replaceChildren(h("p", { class: "error", role: "alert" }, `This build is misconfigured: ${(failure as Error).message}`));
    return;
  }
  const auth = await createAuth(config);
  const api = new Api(config.apiBase, auth);
  const agents = new AgentStore();
  const announcer = new Announcer();
  const storage = window.sessionStorage;
  const currentSession = (): string => sessionId(storage);
  document.body.dataset.sessionId = currentSession();

  const loadAgents = async (): Promise<void> => {
    try {
      agents.set({ agents: await api.agents(), error: "" });
    } catch (failure) {
      agents.set({
        agents: [],
        error: failure instanceof ApiError ? failure.message : "The agent list could not be loaded. Reload the page to try again.",
      });
    }
  };

  const controller = new VoiceController({
    agents,
    url: (agentId) => voiceSocketUrl(config.wsBase, currentSession(), agentId ?? undefined),
    protocols: async () => websocketProtocols(await auth.token()),
    mic: new MicCapture(),
    speaker: (onChange) => new PcmPlayer(onChange),
  });
  const voice = voicePanel({ controller, agents, announcer });
  // Chromium keeps an established websocket open while offline: drop it at once, reconnect when back.
  window.addEventListener("offline", () => controller.connection.networkLost());
  window.addEventListener("online", () => controller.connection.networkBack());

  const startSession = (): string => {
    const previous = currentSession();
    document.body.dataset.sessionId = resetSessionId(storage);
    void controller.reset();
    return previous;
  };
  const chat = chatPanel({
    api,
    agents,
    announcer,
    keys: keyPolicy(isCoarsePointer()),
    dictation: config.dictation,
    storage,
    sessionId: currentSession,
    newSession: () => {
      const previous = startSession();
      return () => {
        setSessionId(storage, previous);
        document.body.dataset.sessionId = previous;
      };
    },
  });
  controller.subscribe((event) => {
    if (event.kind === "line") chat.voiceLine(event.line);
    else if (event.kind === "removed") chat.removeVoiceLine(event.id);
  });

  const notFound = h(
    "section",
    { class: "panel", id: "not-found", "aria-labelledby": "nf-title" },
    h("h1", { id: "nf-title", tabindex: "-1" }, "Page not found"),
    h("p", {}, "Go to ", h("a", { href: "/" }, "Chat"), " or ", h("a", { href: "/voice" }, "Voice"), "."),
  );
  main.replaceChildren(chat.element, voice.element, notFound);
  document.querySelector(".app-header")?.append(liveIndicator(controller)); // in the banner landmark
  document.body.append(announcer.element);

  const show = (path: string, moveFocus: boolean): void => {
    const route = ROUTES[path.replace(/\/+$/, "") || "/"];
    chat.element.hidden = route?.panel !== "chat";
    voice.element.hidden = route?.panel !== "voice";
    notFound.hidden = route !== undefined;
    document.body.dataset.panel = route?.panel ?? "none";
    document.title = `${route?.title ?? "Not found"} · Engram`;
    for (const link of document.querySelectorAll<HTMLAnchorElement>("nav a[data-route]")) {
      const current = ROUTES[link.dataset.route ?? ""]?.panel === route?.panel;
      if (current) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    if (moveFocus) document.querySelector<HTMLElement>("main section:not([hidden]) h1")?.focus();
  };

  // Client-side navigation for same-origin links; deep links work because the host falls back to
  // index.html (staticwebapp.config.json on Static Web Apps, app/api/web.py under `engram serve`).
  document.addEventListener("click", (event) => {
    const link = (event.target as Element | null)?.closest?.("a[href^='/']");
    if (!(link instanceof HTMLAnchorElement) || event.defaultPrevented || event.button !== 0) return;
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    if (link.pathname !== window.location.pathname) window.history.pushState(null, "", link.pathname);
    show(link.pathname, true);
  });
  window.addEventListener("popstate", () => show(window.location.pathname, true));

  /** The stored conversation of this tab's session, drawn again (after a reload or a redirect). */
  const restore = async (): Promise<void> => {
    if (auth.mode !== "poc" && !auth.account()) return;
    try {
      chat.restore(await api.episode(currentSession()));
    } catch {
      // Nothing to redraw (no memory permission, or the service is down): the chat still works.
    }
  };

  renderSignIn(document.getElementById("signin") as HTMLElement, auth, {
    leaving: () => {
      // A shared machine: nothing of this conversation may reach the next person.
      chat.clear();
      startSession();
      storage.removeItem(DRAFT_KEY);
      const box = document.getElementById("chat-input") as HTMLTextAreaElement | null;
      if (box) box.value = "";
    },
    changed: () => void loadAgents(),
  });
  show(window.location.pathname, false);
  await loadAgents();
  await restore();
  document.body.dataset.ready = "true";
}

void boot();
