"""The Engram Pulumi program: stack config -> EnvironmentProfile -> EngramPlatform -> stack outputs.

`pulumi up --stack <env>` runs this file; `engram preview` / `engram check` run the same `main()`
offline under mocks (policies/plan.py). The stack name and the `engram:` config sections are read
here and nowhere else.
"""

from __future__ import annotations

import pulumi

from components.platform import UI_AUTH_MODES, EngramPlatform, PlatformSecrets
from components.profile import SECRET_KEYS, SECTIONS, load_profile

__all__ = [
    "SECRET_KEYS",
    "main",
]  # SECRET_KEYS: the secret config keys main() reads (the offline plan fills them)


def main() -> None:
    config = pulumi.Config("engram")
    sections = {key: config.get_object(key) for key in SECTIONS}
    profile = load_profile(pulumi.get_stack(), {k: v for k, v in sections.items() if v is not None})
    secrets = PlatformSecrets.from_config(config.get_secret)
    platform = EngramPlatform(profile.name(""), profile, secrets)

    pulumi.export("sopLevel", profile.level)
    pulumi.export("gatewayUrl", platform.gateway_url)
    pulumi.export("keyVaultUri", platform.key_vault_uri)
    pulumi.export("aiEndpoint", platform.ai_endpoint)
    pulumi.export("resourceGroupName", platform.resource_group_name)
    if platform.container_app_name is not None:
        # `engram rollback --stack <env>` finds the app from these two outputs.
        pulumi.export("containerAppName", platform.container_app_name)
    if platform.api_url is not None:
        pulumi.export("apiUrl", platform.api_url)
        pulumi.export("wsUrl", platform.ws_url)
        pulumi.export("uiHostname", platform.ui_hostname)
        # The UI build variables (SOP 1.1): the deploy pipeline exports every `VITE_*` output, then
        # `npm run build` (app/web/src/config.ts reads them).
        pulumi.export("VITE_API_URL", platform.api_url)
        pulumi.export("VITE_WS_URL", platform.ws_url)
        pulumi.export("VITE_AUTH_MODE", UI_AUTH_MODES[profile.auth.model])
    if platform.static_site_name is not None:
        pulumi.export("staticSiteName", platform.static_site_name)
    if platform.app_client_id is not None:
        pulumi.export("apiClientId", platform.app_client_id)
    if platform.api_scope is not None:
        pulumi.export("VITE_API_SCOPE", platform.api_scope)
    if platform.ui_client_id is not None:
        pulumi.export("VITE_ENTRA_CLIENT_ID", platform.ui_client_id)
        pulumi.export("VITE_ENTRA_TENANT_ID", profile.auth.tenant_id)
    if platform.registry_login_server is not None:
        # The deploy pipeline builds (or, for a private registry, imports) the image here; its absence
        # tells the pipeline this is the stack's first deployment (the app runs the bootstrap image).
        pulumi.export("registryLoginServer", platform.registry_login_server)


if __name__ == "__main__":  # `pulumi up` runs this file as __main__
    main()
