"""The UI's Entra build signing in with MSAL, in Chromium, against a real OpenID provider on loopback.

The provider is the certified `oidc-provider` (tests/e2e/oidc/provider.mjs), shaped like an Entra tenant:
issuer `<origin>/<tenant>/v2.0`, RS256 JWT access tokens for the API with `oid`, `tid`, `roles`, `scp`,
`xms_cc`, and `acrs` once a claims request asked for the MFA context. The API is the real app, trusting
that issuer and key set through the same `EntraValidator` production uses, with production's MFA rule.

One user's path: sign in (auth code + PKCE), the first call is challenged for the `c1` context, the UI
answers the challenge (a token with those claims; by redirect, since this provider cannot add claims on
a refresh), the call goes through, the token is renewed silently (refresh token), and signing out ends
the provider's session and leaves no token in the tab.

What differs from Entra: the provider's development login form instead of Microsoft's sign-in page, no
real second factor (the provider grants `acrs` when asked), and an `id_token: {}` member added to claims
requests (see provider.mjs). MSAL runs in its OIDC protocol mode for a non-Microsoft authority.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, expect

from app.security.authenticator import Authenticator, AuthError
from app.security.entra import EntraValidator
from app.security.identity import Identity
from tests.conftest import make_settings
from tests.doubles.tls import loopback_certificate
from tests.e2e.conftest import open_page, require, shot
from tests.e2e.harness import REPO, VOICELIVE_KEY, WEB, Doubles, free_port, static_ui, wait_http

pytestmark = pytest.mark.e2e

OIDC = REPO / "tests" / "e2e" / "oidc"
TENANT = "3f1e2d4c-5b6a-4978-8a9b-0c1d2e3f4a5b"
API_CLIENT = "8a7b6c5d-4e3f-4a1b-9c8d-7e6f5a4b3c2d"  # the API registration: the tokens' audience
UI_CLIENT = "1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"  # the UI's public client
API_SCOPE = "api://engram-e2e/access_as_user"
EVENT_TIMEOUT_S = 15.0


@dataclass
class Provider:
    process: subprocess.Popen[str]
    issuer: str = ""
    jwks: str = ""
    events: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            self.events.put(event)

    def next(self, name: str, **match: Any) -> dict[str, Any]:
        """The next event called `name` (and with those fields), waiting at most EVENT_TIMEOUT_S."""
        deadline = time.monotonic() + EVENT_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(event)
            if event.get("event") == name and all(event.get(k) == v for k, v in match.items()):
                return event
        raise AssertionError(f"no {name} {match} from the provider; saw {self.seen[-10:]}")

    def drain(self) -> list[dict[str, Any]]:
        found = []
        while not self.events.empty():
            found.append(self.events.get_nowait())
        self.seen.extend(found)
        return found


@dataclass
class Site:
    ui: str
    api: str
    provider: Provider
    tokens: list[tuple[str, dict[str, object] | str]]  # ("accepted", claims) or ("refused", reason)


class RecordingValidator:
    """Production's EntraValidator, remembering what it accepted and why it refused."""

    def __init__(self, validator: EntraValidator, tokens: list[tuple[str, dict[str, object] | str]]) -> None:
        self._validator, self._tokens = validator, tokens

    async def __call__(self, token: str) -> Identity:
        try:
            identity = await self._validator(token)
        except AuthError as error:
            self._tokens.append(("refused", error.reason))
            raise
        self._tokens.append(("accepted", dict(identity.claims or {})))
        return identity


@pytest.fixture(scope="module")
def site(doubles: Doubles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    require((WEB / "node_modules" / ".bin" / "vite").exists(), "UI dependencies missing; run `make web`")
    require((OIDC / "node_modules" / "oidc-provider").is_dir(), "oidc-provider missing; run `make oidc`")
    require(shutil.which("node") is not None, "node is not installed")
    work = tmp_path_factory.mktemp("oidc")
    cert, key = loopback_certificate(work)  # trusted by the API through SSL_CERT_FILE
    ui_port, api_port, oidc_port = free_port(), free_port(), free_port()
    ui, api = f"http://127.0.0.1:{ui_port}", f"http://127.0.0.1:{api_port}"

    process = subprocess.Popen(
        ["node", str(OIDC / "provider.mjs")],
        cwd=OIDC,
        env={
            "PATH": os.environ.get("PATH", ""),
            "OIDC_PORT": str(oidc_port),
            "OIDC_TENANT_ID": TENANT,
            "OIDC_CLIENT_ID": UI_CLIENT,
            "OIDC_API_CLIENT_ID": API_CLIENT,
            "OIDC_API_SCOPE": API_SCOPE,
            "OIDC_REDIRECT_URI": ui,
            "OIDC_TLS_CERT": str(cert),
            "OIDC_TLS_KEY": str(key),
            "OIDC_ACCESS_TOKEN_TTL": "120",  # under MSAL's 5-minute renewal offset: every call renews
        },
        stdout=subprocess.PIPE,
        stderr=(work / "provider.err").open("w"),
        text=True,
    )
    provider = Provider(process)
    threading.Thread(target=provider.read, daemon=True).start()
    listening = provider.next("listening")
    provider.issuer, provider.jwks = listening["issuer"], listening["jwks"]

    out = work / "dist"
    static = static_ui(
        out,
        ui_port,
        VITE_AUTH_MODE="entra",
        VITE_API_URL=api,
        VITE_ENTRA_CLIENT_ID=UI_CLIENT,
        VITE_ENTRA_TENANT_ID=TENANT,
        VITE_API_SCOPE=API_SCOPE,
        VITE_ENTRA_AUTHORITY=provider.issuer,
    )

    # The API: the real app, production's MFA rule, trusting the provider's issuer and keys.
    from app.db.migrate import upgrade_sync
    from app.main import create_app

    settings = make_settings(
        work,
        environment="test",
        auth_required=True,
        cors_origins=[ui],
        azure_ai_endpoint=doubles.openai.base_url,
        azure_ai_key="test-gateway-key",
        azure_voicelive_endpoint=doubles.voicelive.endpoint,
        azure_voicelive_key=VOICELIVE_KEY,
    )
    # In a thread of its own: Playwright's sync API keeps an event loop running on this one.
    migrate = threading.Thread(target=upgrade_sync, args=(settings,))
    migrate.start()
    migrate.join(60)
    app = create_app(settings)
    tokens: list[tuple[str, dict[str, object] | str]] = []
    validator = EntraValidator(
        TENANT,
        API_CLIENT,
        require_mfa=True,
        auth_context_id="c1",
        jwks_url=provider.jwks,
        issuers=[provider.issuer],
        authorize_url=f"{provider.issuer}/auth",
    )
    app.state.authenticator = Authenticator(settings, jwt_validator=RecordingValidator(validator, tokens))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=api_port, log_level="warning"))
    api_thread = threading.Thread(target=server.run, daemon=True)
    previous_ca = os.environ.get("SSL_CERT_FILE")
    os.environ["SSL_CERT_FILE"] = str(cert)  # the API fetches the provider's keys over its TLS
    api_thread.start()
    try:
        wait_http(f"{api}/health", static, "the API")
        wait_http(ui, static, "the static server")
        yield Site(ui, api, provider, tokens)
    finally:
        server.should_exit = True
        api_thread.join(10)
        if previous_ca is None:
            os.environ.pop("SSL_CERT_FILE", None)
        else:
            os.environ["SSL_CERT_FILE"] = previous_ca
        for proc in (static, process):
            proc.terminate()
            proc.wait(10)


@pytest.fixture
def oidc_page(browser: Browser, site: Site, request: pytest.FixtureRequest) -> Iterator[Page]:
    with open_page(browser, site.ui, request.node.name, ignore_https_errors=True) as page:
        yield page


def send(page: Page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def accepted(site: Site) -> list[dict[str, object]]:
    return [claims for verdict, claims in site.tokens if verdict == "accepted" and isinstance(claims, dict)]


@pytest.mark.chat
def test_sign_in_mfa_step_up_renewal_and_sign_out(oidc_page: Page, site: Site) -> None:
    page, provider = oidc_page, site.provider
    page.goto("/")
    expect(page.locator("#chat-panel .agent")).to_have_count(2)  # open route, signed out

    # Sign in: MSAL redirects to the provider (auth code + PKCE, the CP1 capability as a claims request).
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{provider.issuer}/**")
    first = provider.next("authorize")
    assert json.loads(first["claims"])["access_token"]["xms_cc"]["values"] == ["CP1"]
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill("any password: the development login form")
    page.locator("button[type=submit]").click()
    page.get_by_role("button", name="Continue").click()  # the provider's consent page (see provider.mjs)
    page.wait_for_url(f"{site.ui}/**")
    expect(page.get_by_test_id("account")).to_have_text("Signed in as alice")
    provider.next("grant", grant_type="authorization_code")

    # The first call: the token has no MFA context; the API challenges, the UI steps up and the
    # provider sees the MFA claims request; back in the UI the call goes through.
    send(page, "Hello after signing in")
    step_up = provider.next("authorize")
    assert json.loads(step_up["claims"])["access_token"]["acrs"] == {"essential": True, "value": "c1"}
    page.get_by_role("button", name="Continue").click()  # signed in already: only the consent page
    page.wait_for_url(f"{site.ui}/**")
    expect(page.get_by_test_id("account")).to_have_text("Signed in as alice")
    assert ("refused", "mfa_required") in site.tokens
    shot(page, "oidc-after-step-up")
    send(page, "Hello with the MFA context")
    expect(page.locator(".message.assistant").last).to_have_attribute("data-done", "true")
    claims = accepted(site)[-1]
    assert claims["acrs"] == ["c1"] and claims["xms_cc"] == ["cp1"]
    assert claims["aud"] == API_CLIENT and claims["tid"] == TENANT and claims["iss"] == provider.issuer
    assert claims["scp"] == "access_as_user" and claims["roles"] == ["engram.user"] and claims["ver"] == "2.0"
    assert "amr" not in claims

    # Renewal: the access token lives 120 s, inside MSAL's renewal window, so the next call renews it
    # silently with the refresh token (no page change), and the renewed token still proves MFA.
    provider.drain()
    before = len(accepted(site))
    send(page, "Hello with a renewed token")
    expect(page.locator(".message.assistant")).to_have_count(2)
    expect(page.locator(".message.assistant").last).to_have_attribute("data-done", "true")
    provider.next("grant", grant_type="refresh_token")
    renewed = accepted(site)[before:]
    assert renewed and renewed[-1]["acrs"] == ["c1"] and renewed[-1]["jti"] != claims["jti"]
    assert page.url.startswith(site.ui)

    # The voice socket's token (in its subprotocol: no challenge can reach the UI there) asks for the
    # claims the API last requested, so it carries the MFA context too.
    before = len(accepted(site))
    page.get_by_role("link", name="Voice").click()
    page.get_by_role("button", name="Start conversation").click()
    expect(page.locator("#voice-status")).to_have_attribute("data-state", "open")
    assert accepted(site)[before:][-1]["acrs"] == ["c1"]
    page.get_by_role("button", name="End conversation").click()
    page.get_by_role("link", name="Chat").click()

    # Sign out: the provider ends its session, MSAL forgets the tokens, the API refuses the anonymous call.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{provider.issuer}/**")
    page.get_by_role("button", name="Yes, sign me out").click()
    provider.next("end_session")
    page.wait_for_url(f"{site.ui}/**")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    left = page.evaluate("Object.keys(sessionStorage).filter((k) => /token|claims/i.test(k))")
    assert left == [], left
    send(page, "Hello after signing out")
    expect(page.locator("#chat-panel")).to_contain_text("sign in")
