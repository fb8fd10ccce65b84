/**
 * Engram UI entry: reads the build-time config, signs in (per VITE_AUTH_MODE), loads the agents and
 * routes between the chat panel (/) and the voice panel (/voice). Both panels stay mounted, so a
 * voice conversation keeps going while the user reads the chat, and both use the tab's session id.
 */
import "./styles.css";
import { Api, ApiError } from "./api";
import { createAuth } from "./auth";
import { loadConfig } from "./config";
import { resetSessionId, sessionId } from "./session";
import { AgentStore } from "./ui/agents";
import { chatPanel } from "./ui/chat";
import { h } from "./ui/dom";
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
  const currentSession = (): string => sessionId(window.sessionStorage);
  document.body.dataset.sessionId = currentSession();

  const loadAgents = async (): Promise<void> => {
    try {
      agents.set({ agents: await api.agents(), error: "" });
    } catch (failure) {
      agents.set({ agents: [], error: failure instanceof ApiError ? failure.message : "The agent list could not be loaded." });
    }
  };

  const voice = voicePanel({ auth, agents, wsBase: config.wsBase, sessionId: currentSession });
  const chat = chatPanel({
    api,
    agents,
    sessionId: currentSession,
    newSession: () => {
      document.body.dataset.sessionId = resetSessionId(window.sessionStorage);
      void voice.restart();
    },
  });
  const notFound = h(
    "section",
    { class: "panel", id: "not-found", "aria-labelledby": "nf-title" },
    h("h1", { id: "nf-title", tabindex: "-1" }, "Page not found"),
    h("p", {}, "Go to ", h("a", { href: "/" }, "Chat"), " or ", h("a", { href: "/voice" }, "Voice"), "."),
  );
  main.replaceChildren(chat, voice.element, notFound);

  const show = (path: string, moveFocus: boolean): void => {
    const route = ROUTES[path.replace(/\/+$/, "") || "/"];
    chat.hidden = route?.panel !== "chat";
    voice.element.hidden = route?.panel !== "voice";
    notFound.hidden = route !== undefined;
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

  renderSignIn(document.getElementById("signin") as HTMLElement, auth, () => void loadAgents());
  show(window.location.pathname, false);
  await loadAgents();
  document.body.dataset.ready = "true";
}

void boot();
