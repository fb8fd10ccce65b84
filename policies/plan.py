"""Record what the Pulumi program would create for a stack, offline: the one plan recorder.

`engram preview`, `engram check` (the policy gate, `policies.gate`), `--export-arm`
(`policies.arm_export`) and the component tests all read the `OfflinePlan` this module records. It
reads a stack's `Pulumi.<stack>.yaml` exactly as the Pulumi CLI would hand it to the program
(structured values JSON-encoded, secrets marked secret), installs mocks, runs the real program in
`stacks/__main__.py` (loaded by file path), and keeps every `RegisterResource` request the resource
monitor receives as one `PlannedResource`: its type token, logical name, URN, properties in wire form
(what an analyzer and a provider are sent; `inputs` reads them as plain data), the mock's id and
outputs, parent, dependencies and options (aliases aside: see `_drop_aliases`). It resets Pulumi's global
settings on every call, so it can run many stacks in one process.

Tooling, not part of the pack: the pack's rules (`policies/rules`) never import this module, and
`policies/__main__.py` does not either. Nothing here touches a network or a cloud account. Secrets the
stack expects from `pulumi config set --secret` are absent from the YAML files by design; the runner
fills each one with a marked placeholder (`OFFLINE_SECRET`) so the program can wire it, and reports
which keys it filled.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]

PROJECT = "engram"
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_DIR = REPO_ROOT / "stacks"
PROGRAM_PATH = REPO_ROOT / "stacks" / "__main__.py"
OFFLINE_SECRET = "offline-placeholder-secret"  # noqa: S105 - a marker, never a credential
SUBSCRIPTION_ID = "00000000-0000-0000-0000-000000000000"
TENANT_ID = "00000000-0000-0000-0000-00000000000t"


class OfflineRunError(Exception):
    """The stack cannot be run offline (missing config file, program error); says which and why."""


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers, as the engine receives it and hands it to an analyzer.

    Tests and the pack's unit tests build these by hand from `urn`, `type`, `name` and `properties`.
    """

    urn: str
    type: str
    name: str
    #: Wire form (camelCase names, numbers as floats, secrets in the engine's envelope, unknowns as its
    #: sentinel): exactly what a provider and a policy analyzer are sent.
    properties: Mapping[str, Any]
    parent: str | None = None
    dependencies: tuple[str, ...] = ()
    property_dependencies: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    protect: bool = False
    custom: bool = True
    ignore_changes: tuple[str, ...] = ()  # property paths as the engine receives them
    id: str | None = None  # the mock's resource id: what other resources' inputs refer to
    outputs: Mapping[str, Any] = field(default_factory=dict)  # what the mock answered (plain)

    @functools.cached_property
    def inputs(self) -> Mapping[str, Any]:
        """`properties` as plain JSON-like data: secrets unwrapped, unknowns as `pulumi.output.UNKNOWN`."""
        return _plain(self.properties)  # type: ignore[no-any-return]


@dataclass
class OfflinePlan:
    """Everything one offline run of a stack produced."""

    stack: str
    config: dict[str, Any]  # the stack's config as the program saw it (structured values decoded)
    resources: list[PlannedResource]
    outputs: dict[str, Any]
    filled_secrets: list[str] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[PlannedResource]:
        return [r for r in self.resources if r.type == type_token]

    def one(self, type_token: str, name_contains: str = "") -> PlannedResource:
        found = [r for r in self.of_type(type_token) if name_contains in r.name]
        if len(found) != 1:
            raise LookupError(f"expected one {type_token} named *{name_contains}*, found {len(found)}")
        return found[0]


# --- stack configuration -------------------------------------------------------------------------


def stack_config_path(stack: str, config_dir: Path | None = None) -> Path:
    return (config_dir or DEFAULT_CONFIG_DIR) / f"Pulumi.{stack}.yaml"


def list_stacks(config_dir: Path | None = None) -> list[str]:
    """Stack names with a `Pulumi.<stack>.yaml` in the config directory."""
    directory = config_dir or DEFAULT_CONFIG_DIR
    return sorted(p.name[len("Pulumi.") : -len(".yaml")] for p in directory.glob("Pulumi.*.yaml"))


def read_stack_config(stack: str, config_dir: Path | None = None) -> dict[str, Any]:
    """The `config:` map of a stack file, keys fully qualified (`engram:app`, `azure-native:location`)."""
    path = stack_config_path(stack, config_dir)
    if not path.is_file():
        raise OfflineRunError(f"no stack configuration for {stack!r}: {path} does not exist")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise OfflineRunError(f"{path.name} is not valid YAML: {exc}") from None
    raw = document.get("config") or {}
    if not isinstance(raw, dict):
        raise OfflineRunError(f"{path.name}: `config` must be a mapping")
    config: dict[str, Any] = {}
    for key, value in raw.items():
        qualified = key if ":" in key else f"{PROJECT}:{key}"
        if isinstance(value, dict) and set(value) == {"secure"}:
            continue  # an encrypted value: only the Pulumi CLI can decrypt it; filled below
        config[qualified] = value
    return config


def _wire_value(value: Any) -> str:
    """How the Pulumi CLI passes a config value to the program: strings as-is, the rest as JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value)


# --- mocks ---------------------------------------------------------------------------------------


def _computed_outputs(kind: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """The outputs Azure would compute that the program wires onwards (only those)."""
    props = dict(inputs.get("properties") or {})
    if kind == "azure-native:keyvault:Vault":
        props["vaultUri"] = f"https://{name}.vault.azure.net/"
        return {"properties": props}
    if kind == "azure-native:keyvault:Secret":
        vault = inputs.get("vaultName", "vault")
        secret = inputs.get("secretName", name)
        return {"properties": {"secretUri": f"https://{vault}.vault.azure.net/secrets/{secret}"}}
    if kind == "azure-native:cognitiveservices:Account":
        sub = props.get("customSubDomainName", name)
        props["endpoint"] = f"https://{sub}.cognitiveservices.azure.com/"
        return {
            "properties": props,
            "identity": {**(inputs.get("identity") or {}), "principalId": f"{name}-pid"},
        }
    if kind == "azure-native:apimanagement:ApiManagementService":
        injected = inputs.get("virtualNetworkType") in ("Internal", "External")
        return {
            "gatewayUrl": f"https://{inputs.get('serviceName', name)}.azure-api.net",
            "identity": {**(inputs.get("identity") or {}), "principalId": f"{name}-pid"},
            **({"privateIPAddresses": ["10.0.3.4"]} if injected else {}),
        }
    if kind == "azure-native:managedidentity:UserAssignedIdentity":
        return {"clientId": f"{name}-client-id", "principalId": f"{name}-principal-id"}
    if kind == "azure-native:operationalinsights:Workspace":
        return {"customerId": f"{name}-customer-id"}
    if kind == "azure-native:applicationinsights:Component":
        return {"connectionString": f"InstrumentationKey={name};IngestionEndpoint=https://example.invalid/"}
    if kind == "azure-native:containerregistry:Registry":
        return {"loginServer": f"{inputs.get('registryName', name)}.azurecr.io"}
    if kind == "azure-native:dbforpostgresql:Server":
        return {"fullyQualifiedDomainName": f"{inputs.get('serverName', name)}.postgres.database.azure.com"}
    if kind == "azure-native:app:ManagedEnvironment":
        return {"defaultDomain": f"{name}.eastus2.azurecontainerapps.io", "staticIp": "10.0.0.4"}
    if kind == "azure-native:app:ContainerApp":
        config = dict(inputs.get("configuration") or {})
        ingress = {**(config.get("ingress") or {}), "fqdn": f"{name}.eastus2.azurecontainerapps.io"}
        return {"configuration": {**config, "ingress": ingress}, "latestRevisionFqdn": ingress["fqdn"]}
    if kind == "azure-native:web:StaticSite":
        return {"defaultHostname": f"{name}.2.azurestaticapps.net"}  # partitioned, as new sites are
    if kind == "azuread:index/application:Application":
        return {"clientId": f"{name}-client-id", "objectId": f"{name}-object-id"}
    if kind == "azuread:index/servicePrincipal:ServicePrincipal":
        return {"objectId": f"{name}-sp-object-id"}
    return {}


#: The input that carries a resource's Azure name, for types whose name other resources refer to.
_NAME_INPUT = {
    "azure-native:resources:ResourceGroup": "resourceGroupName",
    "azure-native:keyvault:Vault": "vaultName",
    "azure-native:cognitiveservices:Account": "accountName",
    "azure-native:apimanagement:ApiManagementService": "serviceName",
    "azure-native:dbforpostgresql:Server": "serverName",
    "azure-native:network:VirtualNetwork": "virtualNetworkName",
    "azure-native:network:PrivateEndpoint": "privateEndpointName",
    "azure-native:privatedns:PrivateZone": "privateZoneName",
    "azure-native:containerregistry:Registry": "registryName",
}


def _azure_name(type_token: str, name: str, inputs: Mapping[str, Any]) -> str:
    """The name Azure would report: the explicit name input, else the logical name (autonaming)."""
    key = _NAME_INPUT.get(type_token)
    value = inputs.get(key) if key else None
    return value if isinstance(value, str) else name


#: What the invokes the program makes return offline.
_INVOKE_RESULTS: Mapping[str, Mapping[str, str]] = {
    "azure-native:authorization:getClientConfig": {
        "subscriptionId": SUBSCRIPTION_ID,
        "tenantId": TENANT_ID,
        "objectId": "deployer",
    },
    "azure-native:operationalinsights:getSharedKeys": {
        "primarySharedKey": OFFLINE_SECRET,
        "secondarySharedKey": OFFLINE_SECRET,
    },
}


def _make_mocks_and_monitor() -> tuple[Any, Any, list[PlannedResource]]:
    import pulumi
    from pulumi.runtime.mocks import MockMonitor

    ledger: list[PlannedResource] = []

    class RecordingMocks(pulumi.runtime.Mocks):
        def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
            name = _azure_name(args.typ, args.name, args.inputs)
            outputs = {**args.inputs, "name": name, **_computed_outputs(args.typ, name, args.inputs)}
            identity = outputs.get("identity")
            if isinstance(identity, dict) and isinstance(identity.get("userAssignedIdentities"), list):
                # Inputs list the identity ids; Azure answers with a map keyed by them.
                ids = identity["userAssignedIdentities"]
                outputs["identity"] = {**identity, "userAssignedIdentities": {i: {} for i in ids}}
            rid = f"/subscriptions/{SUBSCRIPTION_ID}/mock/{args.typ.replace(':', '/')}/{name}"
            return rid, outputs

        def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
            return dict(_INVOKE_RESULTS.get(args.token, {}))

    class RecordingMonitor(MockMonitor):
        """The SDK's mock monitor, plus a ledger of every registration as the engine receives it."""

        def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
            response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
            if request.type != "pulumi:pulumi:Stack":
                from google.protobuf import json_format

                registration = self.resources.get(response.urn)
                ledger.append(
                    PlannedResource(
                        urn=response.urn,
                        type=request.type,
                        name=request.name,
                        properties=json_format.MessageToDict(request.object),
                        parent=request.parent or None,
                        dependencies=tuple(request.dependencies),
                        property_dependencies={
                            key: tuple(deps.urns) for key, deps in request.propertyDependencies.items()
                        },
                        protect=bool(request.protect),
                        custom=bool(request.custom),
                        ignore_changes=tuple(request.ignoreChanges),
                        id=registration.id if registration else None,
                        outputs=_plain(registration.state) if registration else {},
                    )
                )
            return response

    mocks = RecordingMocks()
    return mocks, RecordingMonitor(mocks), ledger


def _plain(value: Any) -> Any:
    """Strip the SDK's secret envelopes and unknown sentinels: plain JSON-like data (and `UNKNOWN`)."""
    from pulumi.output import UNKNOWN
    from pulumi.runtime import rpc

    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _plain(value.get("value"))
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return UNKNOWN if value == rpc.UNKNOWN else value


# --- running -------------------------------------------------------------------------------------

Program = Callable[[], None]


def _program_module() -> Any:
    """`stacks/__main__.py`, loaded by path once (the directory is not a package; the program's
    imports of `components` happen here, at run time, never when this module is imported)."""
    import importlib.util
    import sys

    module_name = "engram_stack_program"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, PROGRAM_PATH)
    if spec is None or spec.loader is None:
        raise OfflineRunError(f"cannot load the Pulumi program at {PROGRAM_PATH}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


def _drop_aliases(args: Any) -> Any:
    """Drop each resource's aliases: offline there is no earlier state for an alias to match.

    azure-native gives every resource one alias per past API version (60 on a VirtualNetwork), and
    the SDK turns each into a URN through a chain of Outputs as the resource is constructed: that was
    about 40 % of the CPU time of `engram check --all`. Aliases only map old state onto new URNs; the
    engine does not pass them to the properties a policy sees, and our rules never read them.
    """
    import copy

    import pulumi

    if not args.opts.aliases:
        return None
    opts = copy.copy(args.opts)
    opts.aliases = None
    return pulumi.ResourceTransformationResult(args.props, opts)


def run_program(
    stack: str,
    config_dir: Path | None = None,
    *,
    config_overrides: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    program: Program | None = None,
    preview: bool = True,
) -> OfflinePlan:
    """Run the program for `stack` under mocks; return every planned resource and the stack outputs.

    `config_overrides` replace or add fully-qualified config keys (as after `pulumi config set`);
    `secrets` supply values for secret keys (`engram:azure-ai-key`); any secret the program requires
    that is not supplied gets `OFFLINE_SECRET` and is listed in `OfflinePlan.filled_secrets`.
    """
    import pulumi
    from pulumi.runtime import config as runtime_config
    from pulumi.runtime import settings as runtime_settings
    from pulumi.runtime.stack import run_pulumi_func
    from pulumi.runtime.sync_await import _sync_await

    # The program names the secret config keys it reads: the recorder stays free of `components`.
    program_module = _program_module()
    secret_keys: tuple[str, ...] = program_module.SECRET_KEYS

    config = read_stack_config(stack, config_dir)
    config.update(config_overrides or {})
    supplied = dict(secrets or {})
    filled: list[str] = []
    for key in secret_keys:
        qualified = f"{PROJECT}:{key}"
        if qualified not in supplied and qualified not in config:
            supplied[qualified] = OFFLINE_SECRET
            filled.append(qualified)
    wire = {k: _wire_value(v) for k, v in config.items()}
    wire.update(supplied)
    runtime_config.set_all_config(wire, sorted(supplied))

    # A loop of our own: the caller's may be closed (pytest-asyncio) and Pulumi's sync helpers need one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks, monitor, ledger = _make_mocks_and_monitor()
    runtime_settings.ROOT.set(None)  # a fresh root stack for this run
    runtime_settings.SETTINGS.rpc_manager.clear()
    runtime_settings.SETTINGS.outputs.clear()
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor)
    root = runtime_settings.get_root_resource()
    main: Program = program or program_module.main

    def without_aliases() -> None:
        pulumi.runtime.register_stack_transformation(_drop_aliases)
        main()

    try:
        _sync_await(run_pulumi_func(without_aliases))
        stack_outputs = getattr(root, "outputs", {})
        resolved = _sync_await(pulumi.Output.from_input(stack_outputs).future()) if stack_outputs else {}
    except Exception as exc:
        raise OfflineRunError(f"the program failed for stack {stack!r}: {exc}") from exc
    finally:
        runtime_config.set_all_config({}, [])
        loop.close()
        asyncio.set_event_loop(None)
    return OfflinePlan(
        stack=stack,
        config={k: v for k, v in config.items()},
        resources=list(ledger),
        outputs=dict(resolved or {}),
        filled_secrets=filled,
    )
