"""`engram tenant init <customer>`: write a customer's stack config (SOP 1.1) from flags or prompts."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml  # type: ignore[import-untyped,unused-ignore]

from app.ops.auth_context import (
    GRAPH_SCOPE,
    GRAPH_URL,
    AuthContextError,
    ensure_auth_context,
    plan_from_stack,
)
from app.ops.tenant import (
    DEFAULT_TEMPLATE,
    TenantInputError,
    TenantInputs,
    build_tenant_config,
    ui_build_variables,
    write_tenant_config,
)

app = typer.Typer(help="Customer tenants: replicate Engram into a customer's Azure tenant (SOP 1.1).")

_REPO_STACKS = Path(__file__).resolve().parents[2] / "stacks"


def _overrides(values: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise TenantInputError([f"--set {item!r}: use section.path=value, e.g. hosting.maxReplicas=5"])
        try:
            parsed[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise TenantInputError([f"--set {key}: the value is not valid YAML"]) from None
    return parsed


def _ask(value: str | None, prompt: str, interactive: bool) -> str | None:
    if value is None and interactive:
        answer: str = typer.prompt(prompt)
        return answer.strip() or None
    return value


@app.command("init")
def init(
    customer: str = typer.Argument(..., help="The customer's stack name, e.g. contoso."),
    tenant_id: str | None = typer.Option(None, help="The customer's Entra tenant id (GUID)."),
    location: str = typer.Option("eastus2", help="Azure region for every resource (data residency)."),
    auth: str = typer.Option("poc", help="poc (no sign-in, staging template) or entra (sign-in required)."),
    template: str | None = typer.Option(None, help="SOP stack to start from: staging, test, uat or prod."),
    ui_hostname: list[str] = typer.Option([], help="Custom UI hostname(s) on the Static Web App (CORS)."),
    gateway: str = typer.Option("apim", help="apim (provision it) or existing (the customer's gateway)."),
    gateway_url: str | None = typer.Option(None, help="Existing OpenAI-compatible gateway base URL."),
    publisher_email: str | None = typer.Option(None, help="APIM publisher email (gateway apim)."),
    publisher_name: str | None = typer.Option(None, help="APIM publisher name (default the customer)."),
    chat_deployment: str = typer.Option("chat", help="Chat model deployment name."),
    voicelive_model: str = typer.Option("realtime", help="VoiceLive realtime model deployment name."),
    voice: str = typer.Option("en-US-Ava:DragonHDLatestNeural", help="Default agent voice."),
    voicelive_auth: str = typer.Option(
        "managed-identity",
        help="managed-identity (the default). key is refused: the stacks turn key auth off on AI Services.",
    ),
    ai_subdomain: str | None = typer.Option(None, help="AI Services custom subdomain (globally unique)."),
    zep: bool = typer.Option(False, "--zep/--no-zep", help="Mirror memory to Zep."),
    zep_url: str | None = typer.Option(None, help="Zep API URL (default Zep Cloud)."),
    oncall_email: list[str] = typer.Option([], help="Alert email(s) (templates with alerts)."),
    security_email: list[str] = typer.Option([], help="Security team email(s) for auth alerts."),
    set_: list[str] = typer.Option([], "--set", help="Any other config value: section.path=value (YAML)."),
    out: Path | None = typer.Option(
        None, help="Directory to write Pulumi.<customer>.yaml (default stacks/)."
    ),
    stacks_dir: Path = typer.Option(_REPO_STACKS, help="Where the SOP template stacks live."),
    force: bool = typer.Option(False, help="Overwrite an existing file."),
    no_input: bool = typer.Option(False, "--no-input", help="Never prompt; fail on missing answers."),
) -> None:
    """Write stacks/Pulumi.<customer>.yaml (no secrets) and print the secret commands and UI variables."""
    interactive = not no_input and sys.stdin.isatty()
    try:
        if auth not in DEFAULT_TEMPLATE:
            raise TenantInputError([f"--auth: {auth!r} is not poc or entra"])
        if gateway not in ("apim", "existing"):
            raise TenantInputError([f"--gateway: {gateway!r} is not apim or existing"])
        if voicelive_auth not in ("managed-identity", "key"):
            raise TenantInputError([f"--voicelive-auth: {voicelive_auth!r} is not managed-identity or key"])
        tenant_id = _ask(tenant_id, "Customer Entra tenant id (GUID)", interactive)
        if gateway == "existing":
            gateway_url = _ask(gateway_url, "Existing gateway base URL (https://.../openai/v1)", interactive)
        else:
            publisher_email = _ask(publisher_email, "APIM publisher email", interactive)
        inputs = TenantInputs(
            customer=customer,
            tenant_id=tenant_id,
            location=location,
            auth=auth,  # type: ignore[arg-type]  # checked above
            template=template,
            ui_hostnames=tuple(ui_hostname),
            gateway=gateway,  # type: ignore[arg-type]
            gateway_url=gateway_url,
            publisher_email=publisher_email,
            publisher_name=publisher_name,
            chat_deployment=chat_deployment,
            voicelive_model=voicelive_model,
            voice=voice,
            voicelive_auth=voicelive_auth,  # type: ignore[arg-type]
            ai_subdomain=ai_subdomain,
            zep=zep,
            zep_url=zep_url,
            oncall_emails=tuple(oncall_email),
            security_emails=tuple(security_email),
            overrides=_overrides(set_),
        )
        config = build_tenant_config(inputs, stacks_dir)
        path = write_tenant_config(config, out or stacks_dir, force=force)
    except TenantInputError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None

    typer.echo(f"wrote {path} (template {config.template}; no secrets in it)")
    typer.echo("\nSet the secrets (values never go in a file):")
    for command in config.secret_commands or ["(none required)"]:
        typer.echo(f"  {command}")
    if config.optional_secret_commands:
        typer.echo("Optional:")
        for command in config.optional_secret_commands:
            typer.echo(f"  {command}")
    config_dir = f" --config-dir {path.parent}" if path.parent.resolve() != _REPO_STACKS else ""
    typer.echo("\nCheck it offline, then deploy:")
    typer.echo(f"  engram check --stack {customer}{config_dir}")
    typer.echo(f"  engram preview --stack {customer}{config_dir}")
    typer.echo(f"  pulumi up --stack {customer} --policy-pack policies")
    if auth == "entra" and config.document["config"]["engram:auth"].get("mfaRequired"):
        typer.echo("\nProduction MFA (once per tenant, as a Conditional Access Administrator):")
        typer.echo(f"  engram tenant auth-context --stack {customer}{config_dir}")
    typer.echo("\nUI build (the hosts and client ids are assigned at deployment), then deploy it:")
    for name, value in ui_build_variables(customer, "entra" if auth == "entra" else "poc").items():
        typer.echo(f'  export {name}="{value}"')
    typer.echo("  (cd app/web && npm ci && npm run build)")
    site = f"$(pulumi stack output --stack {customer} staticSiteName)"
    typer.echo(f'  token=$(az staticwebapp secrets list --name "{site}" --query properties.apiKey -o tsv)')
    typer.echo(
        '  npx @azure/static-web-apps-cli deploy app/web/dist --deployment-token "$token" --env production'
    )
    typer.echo(
        f'\nThen validate: engram verify --api-base "$(pulumi stack output --stack {customer} apiUrl)"'
    )


@app.command("auth-context")
def auth_context(
    stack: str = typer.Option(..., help="The stack whose engram:auth section names the groups and context."),
    config_dir: Path | None = typer.Option(None, help="Where Pulumi.<stack>.yaml lives (default stacks/)."),
    context_id: str | None = typer.Option(
        None, help="Override the context id (default mfaAuthContextId, c1)."
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the Graph requests; change nothing."),
    graph_url: str = typer.Option(GRAPH_URL, hidden=True, help="Microsoft Graph base URL (tests)."),
) -> None:
    """Create the prod MFA proof: the authentication context and a Conditional Access policy for it.

    Run once per tenant, signed in (`az login`) as a Conditional Access Administrator. The API demands
    the context in `acrs` in production; without this, every production sign-in ends in a challenge.
    """
    path = (config_dir or _REPO_STACKS) / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        typer.echo(f"no stack config at {path}; pass --config-dir", err=True)
        raise typer.Exit(code=2)
    plan = plan_from_stack((yaml.safe_load(path.read_text()) or {}).get("config", {}), context_id=context_id)
    problems = plan.problems()
    if problems:
        typer.echo(
            "cannot create the authentication context:\n" + "\n".join(f"  - {p}" for p in problems), err=True
        )
        raise typer.Exit(code=2)
    if dry_run:
        base = graph_url.rstrip("/")
        typer.echo(
            f"PATCH {base}/identity/conditionalAccess/authenticationContextClassReferences/{plan.context_id}"
        )
        typer.echo(json.dumps(plan.context_body(), indent=2))
        typer.echo(
            f"POST (or PATCH the policy named {plan.policy_name!r}) "
            f"{base}/identity/conditionalAccess/policies"
        )
        typer.echo(json.dumps(plan.policy_body(), indent=2))
        return
    try:
        token = graph_token()
        result = asyncio.run(ensure_auth_context(plan, token=token, base_url=graph_url))
    except AuthContextError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    verb = "created" if result.policy_created else "updated"
    typer.echo(
        f"authentication context {result.context_id} ready; "
        f"Conditional Access policy {verb} ({result.policy_id})"
    )


def graph_token() -> str:
    """A Microsoft Graph token for whoever is signed in (`az login`, or the pipeline's federated identity)."""
    from azure.identity import DefaultAzureCredential

    try:
        return DefaultAzureCredential().get_token(GRAPH_SCOPE).token
    except Exception as exc:  # noqa: BLE001 - azure-identity raises several types; all mean "not signed in"
        raise AuthContextError(
            f"no Azure sign-in for Microsoft Graph ({type(exc).__name__}): run `az login`"
        ) from None
