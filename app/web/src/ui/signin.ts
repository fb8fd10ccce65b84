/**
 * The header's sign-in area: nothing in POC, a dev-token field in development, MSAL in Entra.
 * A change of account (sign-in, sign-out) calls `changed` after it and `leaving` before a sign-out,
 * so the screen is cleaned and a new session begins before the next person can see anything.
 */
import { DEV_TOKEN_PATTERN, type Auth } from "../auth";
import { h } from "./dom";

export interface SignInHooks {
  /** Before signing out (Entra leaves the page: the session must be dropped first). */
  leaving(): void;
  /** After an account change that stays on the page. */
  changed(): void;
}

export function renderSignIn(container: HTMLElement, auth: Auth, hooks: SignInHooks): void {
  container.replaceChildren();
  if (auth.mode === "poc") {
    container.append(h("span", { class: "muted" }, "Proof of concept: no sign-in"));
    return;
  }
  const who = auth.account();
  if (who) {
    const out = h("button", { type: "button", class: "secondary" }, "Sign out");
    out.addEventListener("click", () => {
      hooks.leaving();
      void auth.signOut().then(() => {
        renderSignIn(container, auth, hooks);
        hooks.changed();
        container.querySelector<HTMLElement>("input, button")?.focus();
      });
    });
    container.append(h("span", { "data-testid": "account" }, `Signed in as ${who}`), out);
    return;
  }
  if (auth.mode === "entra") {
    const button = h("button", { type: "button" }, "Sign in");
    button.addEventListener("click", () => void auth.signIn());
    container.append(button);
    return;
  }
  const error = h("span", { class: "field-error", id: "dev-token-error", role: "alert" });
  const input = h("input", {
    id: "dev-token",
    name: "dev-token",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "dev_alice_analyst",
    "aria-describedby": "dev-token-error",
    pattern: DEV_TOKEN_PATTERN.source,
  });
  const form = h(
    "form",
    { class: "dev-token", "aria-label": "Development sign-in" },
    h("label", { for: "dev-token" }, "Dev token"),
    input,
    h("button", { type: "submit" }, "Use token"),
    error,
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    auth.signIn(input.value).then(
      () => {
        hooks.leaving(); // whatever was on screen belonged to nobody signed in: start clean
        renderSignIn(container, auth, hooks);
        hooks.changed();
      },
      (failure: Error) => {
        error.textContent = failure.message;
        input.setAttribute("aria-invalid", "true");
        input.focus();
      },
    );
  });
  container.append(form);
}
