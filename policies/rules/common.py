"""What every rule shares: rule metadata, the SOP level of a resource, and unknown-safe reads.

The level comes from the resource itself (tags `sop-level` / `environment`), then from the stack's
tags, then from the stack name in the URN, so one pack judges our five stacks and any customer stack.
Conflicting signals resolve to the stricter level, and a stack nothing identifies is judged as
production: a missing tag can never make a rule weaker.

Rules see properties the way the analyzer hands them over: camelCase wire names, numbers as floats,
mappings and sequences wrapped in pulumi_policy's unknown-checking proxies. Reading a value that is
unknown at preview raises `UnknownValueError`; the analyzer turns that into an advisory "can't run
during preview" diagnostic and the rule runs again at `pulumi up`, once values are known. Rules only
read values they need for a decision (names and keys are read without touching values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, TypeGuard

from pulumi_policy import (
    EnforcementLevel,
    Policy,
    PolicyComplianceFramework,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError

PACK_NAME = "engram-sop"
DOCS_URL = "https://github.com/<CUSTOMER_ORG>/engram-platform/blob/main/docs/policies.md"

#: SOP level of each environment name (stack names and the service's ENVIRONMENT values).
LEVEL_OF_ENVIRONMENT: dict[str, int] = {
    "staging": 1,
    "poc": 1,
    "dev": 2,
    "development": 2,
    "test": 3,
    "uat": 4,
    "prod": 5,
    "production": 5,
}
ENVIRONMENT_OF_LEVEL: dict[int, str] = {1: "staging", 2: "dev", 3: "test", 4: "uat", 5: "prod"}
ALL_LEVELS: frozenset[int] = frozenset(range(1, 6))
STRICTEST_LEVEL = 5

#: Id prefix of the deployability rule set (Azure's own rules, each citing its source).
AZURE_RULE_PREFIX = "AZ-"

#: `Rule.resource_types` value for rules that look at every resource.
ANY_RESOURCE = "*"

REQUIRED_TAGS: tuple[str, ...] = ("environment", "sop-level", "data-classification", "managed-by")

# Resource types the rules look at (pulumi-azure-native 3.x and pulumi-azuread 6.x tokens).
KEY_VAULT = "azure-native:keyvault:Vault"
AI_ACCOUNT = "azure-native:cognitiveservices:Account"
POSTGRES = "azure-native:dbforpostgresql:Server"
APIM = "azure-native:apimanagement:ApiManagementService"
APIM_NAMED_VALUE = "azure-native:apimanagement:NamedValue"
CONTAINER_APP = "azure-native:app:ContainerApp"
MANAGED_ENVIRONMENT = "azure-native:app:ManagedEnvironment"
REGISTRY = "azure-native:containerregistry:Registry"
PRIVATE_ENDPOINT = "azure-native:network:PrivateEndpoint"
# 3.x moved diagnostic settings to `monitor`; `insights` is the 2.x token, still accepted.
DIAGNOSTIC_SETTINGS = ("azure-native:monitor:DiagnosticSetting", "azure-native:insights:DiagnosticSetting")
CONDITIONAL_ACCESS = "azuread:index/conditionalAccessPolicy:ConditionalAccessPolicy"
AAD_APPLICATIONS = (
    "azuread:index/application:Application",
    "azuread:index/applicationRegistration:ApplicationRegistration",
)

#: The data services SOP-NET-005 and SOP-AUDIT-002 each cover, type -> (label, input holding its ARM
#: name, ARM path segment of its id).
DATA_SERVICES: dict[str, tuple[str, str, str]] = {
    KEY_VAULT: ("Key Vault", "vaultName", "/vaults/"),
    AI_ACCOUNT: ("AI Services account", "accountName", "/accounts/"),
    POSTGRES: ("PostgreSQL server", "serverName", "/flexibleservers/"),
    APIM: ("API Management service", "serviceName", "/service/"),
}

# Tracked ARM resources that always take tags, even when a program forgets both tags and location.
KNOWN_TAGGABLE: frozenset[str] = frozenset(
    {
        KEY_VAULT,
        AI_ACCOUNT,
        POSTGRES,
        APIM,
        CONTAINER_APP,
        MANAGED_ENVIRONMENT,
        REGISTRY,
        PRIVATE_ENDPOINT,
        "azure-native:web:StaticSite",
        "azure-native:resources:ResourceGroup",
        "azure-native:network:VirtualNetwork",
        "azure-native:operationalinsights:Workspace",
        "azure-native:applicationinsights:Component",
        "azure-native:managedidentity:UserAssignedIdentity",
    }
)


class _Unknown:
    """Stands for a value that is unknown at preview, where a rule decides it can proceed without it."""

    def __repr__(self) -> str:
        return "<unknown at preview>"


UNKNOWN: Any = _Unknown()


def peek(mapping: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """`mapping.get(key)`, but an unknown value comes back as `UNKNOWN` instead of raising."""
    if key not in list(mapping):  # iterating keys never touches (possibly unknown) values
        return default
    try:
        return mapping[key]
    except UnknownValueError:
        return UNKNOWN


def is_map(value: Any) -> TypeGuard[Mapping[str, Any]]:
    return isinstance(value, Mapping)


def is_list(value: Any) -> TypeGuard[Sequence[Any]]:
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def sub(props: Mapping[str, Any], *path: str) -> Mapping[str, Any]:
    """The nested mapping at `path`, or an empty one; raises if a step is unknown at preview."""
    current: Any = props
    for key in path:
        if not is_map(current):
            return {}
        current = current.get(key)
    return current if is_map(current) else {}


def items(props: Mapping[str, Any], *path: str) -> list[Any]:
    """The list at `path` (a missing list is empty); raises if the list is unknown at preview."""
    *parents, last = path
    holder = sub(props, *parents) if parents else props
    value = holder.get(last)
    return list(value) if is_list(value) else []


def truthy(value: Any) -> bool:
    """Booleans as ARM and env vars spell them: True, "true", "True", "1", "yes"."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes", "on")
    if isinstance(value, int | float):
        return value != 0
    return False


def level_of_name(name: str | None) -> int | None:
    """SOP level of an environment or stack name: exact, or as a suffix (`contoso-prod`)."""
    if not name:
        return None
    lowered = name.strip().lower()
    if lowered in LEVEL_OF_ENVIRONMENT:
        return LEVEL_OF_ENVIRONMENT[lowered]
    suffix = re.split(r"[-_.]", lowered)[-1]
    return LEVEL_OF_ENVIRONMENT.get(suffix)


def level_of_tag(value: Any) -> int | None:
    """The `sop-level` tag as an int 1..5, or None when absent or malformed."""
    if isinstance(value, str) and value.strip() in {"1", "2", "3", "4", "5"}:
        return int(value.strip())
    if isinstance(value, int | float) and int(value) in ALL_LEVELS:
        return int(value)
    return None


def stack_name_of(urn: str) -> str | None:
    """`urn:pulumi:<stack>::<project>::<type>::<name>` -> `<stack>`."""
    if not urn.startswith("urn:pulumi:"):
        return None
    return urn[len("urn:pulumi:") :].split("::", 1)[0] or None


def tags_of(props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The resource's tag map; a tag map unknown at preview counts as no tags."""
    tags = peek(props, "tags", {})
    return tags if is_map(tags) else {}


def _levels_from_tags(tags: Mapping[str, Any]) -> list[int]:
    found = [level_of_tag(peek(tags, "sop-level")), level_of_name(_str(peek(tags, "environment")))]
    return [level for level in found if level is not None]


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def resolve_level(props: Mapping[str, Any], stack_tags: Mapping[str, str], urn: str) -> int:
    """The SOP level a rule applies to this resource: resource tags, stack tags, stack name, else 5."""
    for source in (_levels_from_tags(tags_of(props)), _levels_from_tags(stack_tags)):
        if source:
            return max(source)
    by_name = level_of_name(stack_name_of(urn))
    return by_name if by_name is not None else STRICTEST_LEVEL


def stack_level(resources: Iterable[Any], stack_tags: Mapping[str, str]) -> int:
    """The stack's level: the highest level any tagged resource declares, else stack tags / name."""
    declared = [lvl for r in resources for lvl in _levels_from_tags(tags_of(r.props))]
    if declared:
        return max(declared)
    from_stack = _levels_from_tags(stack_tags)
    if from_stack:
        return max(from_stack)
    for r in resources:
        by_name = level_of_name(stack_name_of(r.urn))
        if by_name is not None:
            return by_name
    return STRICTEST_LEVEL


def normalise_location(location: str) -> str:
    """`East US 2` -> `eastus2`, the form ARM returns."""
    return location.replace(" ", "").lower()


@dataclass(frozen=True)
class RuleContext:
    """What a check needs besides the properties: the SOP level and the policy's config."""

    level: int = STRICTEST_LEVEL
    config: Mapping[str, Any] = field(default_factory=dict)


PROD = RuleContext()

Check = Callable[[Mapping[str, Any], RuleContext], list[str]]
AppliesTo = Callable[[str, Mapping[str, Any]], bool]


class StackResource(Protocol):
    """The part of `pulumi_policy.PolicyResource` stack checks read."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def property_dependencies(self) -> Mapping[str, Sequence[Any]]: ...


StackCheck = Callable[[Sequence[StackResource], Mapping[str, str], Mapping[str, Any]], list[tuple[str, str]]]


def id_points_at(arm_id: Any, target: StackResource) -> bool:
    """Is a known ARM id the id of `target` (a `DATA_SERVICES` type): its type's segment, then its name?"""
    name_key, segment = DATA_SERVICES[target.resource_type][1:]
    arm_name = peek(target.props, name_key)
    if not (isinstance(arm_id, str) and isinstance(arm_name, str) and arm_name):
        return False
    lowered = arm_id.lower()
    return segment in lowered and lowered.rstrip("/").endswith("/" + arm_name.lower())


def of_type(resources: Sequence[StackResource], *types: str) -> list[StackResource]:
    """The resources of `types`, in plan order."""
    return [r for r in resources if r.resource_type in types]


def depends_on(resource: StackResource, key: str, target: StackResource) -> bool:
    """Does `resource`'s property `key` take a value from `target` (by the engine's dependencies)?

    At preview a target's id is unknown, so a stack rule reads the link from the property
    dependencies the engine reports before it compares any id.
    """
    return any(dep.urn == target.urn for dep in resource.property_dependencies.get(key, ()))


@dataclass(frozen=True)
class Rule:
    """One SOP control: its metadata (what docs/policies.md and the gate show) and its policy."""

    id: str
    name: str
    description: str
    why: str
    severity: Severity
    enforcement: EnforcementLevel
    sop_section: str
    levels: frozenset[int]
    resource_types: tuple[str, ...]
    fix: str
    psrule: str | None = None
    checkov: str | None = None
    config_schema: PolicyConfigSchema | None = None
    #: Deployability (AZ-*) rules: the Azure document, REST spec or provider issue the rule encodes.
    source: str | None = None

    @property
    def is_azure_rule(self) -> bool:
        """An Azure platform rule (what Azure refuses or cannot do), as opposed to an SOP control."""
        return self.id.startswith(AZURE_RULE_PREFIX)

    @property
    def is_stack_rule(self) -> bool:
        return self.resource_types == ("stack",)

    def _policy_kwargs(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "enforcement_level": self.enforcement,
            "config_schema": self.config_schema,
            "display_name": self.id,
            "severity": self.severity,
            "framework": (
                PolicyComplianceFramework(
                    name="Azure deployability", version="1", reference=self.source, specification=self.id
                )
                if self.is_azure_rule
                else PolicyComplianceFramework(
                    name="Engram SOP", version="1", reference=self.sop_section, specification=self.id
                )
            ),
            "tags": [self.id, *sorted(ENVIRONMENT_OF_LEVEL[level] for level in self.levels)],
            "remediation_steps": self.fix,
            "url": f"{DOCS_URL}#{self.id.lower()}",
        }

    def resource(self, check: Check, applies_to: AppliesTo | None = None) -> Entry:
        """This rule bound to its pure check, as a catalogue entry (`applies_to` narrows the types)."""
        return Entry(self, self.resource_policy(check, applies_to))

    def stack(self, check: StackCheck) -> Entry:
        return Entry(self, self.stack_policy(check))

    def resource_policy(self, check: Check, applies_to: AppliesTo | None = None) -> ResourceValidationPolicy:
        """Wrap a pure `check(props, ctx)` as a resource policy scoped to this rule's types and levels."""
        types, levels = frozenset(self.resource_types), self.levels
        any_type = ANY_RESOURCE in types

        def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
            if not any_type and args.resource_type not in types:
                return
            if applies_to is not None and not applies_to(args.resource_type, args.props):
                return
            level = resolve_level(args.props, args.stack_tags, args.urn)
            if level not in levels:
                return
            for message in check(args.props, RuleContext(level, args.get_config())):
                report_violation(message, None)

        return ResourceValidationPolicy(validate=validate, **self._policy_kwargs())

    def stack_policy(self, check: StackCheck) -> StackValidationPolicy:
        """Wrap `check(resources, stack_tags, config) -> [(message, urn)]` as a stack policy."""

        def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
            for message, urn in check(args.resources, args.stack_tags, args.get_config()):
                report_violation(message, urn or None)

        return StackValidationPolicy(validate=validate, **self._policy_kwargs())


class Entry(NamedTuple):
    """A catalogue entry: the rule's metadata and the pulumi-policy object that enforces it."""

    rule: Rule
    policy: Policy


def from_level(minimum: int) -> frozenset[int]:
    return frozenset(level for level in ALL_LEVELS if level >= minimum)


RuleMaker = Callable[..., Rule]


def rule_maker(id_prefix: str, *, name_prefix: str = "", **shared: Any) -> RuleMaker:
    """`make(number, name, description, why, fix, **own)` for the rules `<id_prefix>-NNN` of one module.

    A module states once what its rules share (`sop_section`, `levels`, `severity`, `resource_types`...),
    so each rule shows only what sets it apart; a rule's own keywords win. Every rule is mandatory unless
    it says otherwise.
    """

    def make(number: int, name: str, description: str, why: str, fix: str, **own: Any) -> Rule:
        rule_id = f"{id_prefix}-{number:03d}"
        fields: dict[str, Any] = {"enforcement": EnforcementLevel.MANDATORY, **shared, **own}
        if "resource_types" not in fields:
            raise TypeError(f"{rule_id}: name its resource_types")
        return Rule(
            id=rule_id, name=f"{name_prefix}{name}", description=description, why=why, fix=fix, **fields
        )

    return make


def env_vars(props: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    """(name, entry) for every env var of every container in a container app's template."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    for container in items(props, "template", "containers"):
        if not is_map(container):
            continue
        for entry in items(container, "env"):
            if is_map(entry):
                name = peek(entry, "name")
                if isinstance(name, str):
                    found.append((name, entry))
    return found


def env_value(props: Mapping[str, Any], name: str) -> Any:
    """The literal value of env var `name` (None if absent or secretRef); raises if unknown."""
    for var, entry in env_vars(props):
        if var == name:
            return entry.get("value")
    return None


def env_flag_violation(props: Mapping[str, Any], name: str) -> list[str]:
    """The violation when the container app does not switch the service's boolean setting `name` on."""
    value = env_value(props, name)
    if truthy(value):
        return []
    return [f"Container app env {name} is {value!r}; set {name}=true."]
