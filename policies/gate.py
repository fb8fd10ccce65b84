"""The offline compliance gate behind `engram check`: the policy pack, run the way `pulumi preview
--policy-pack policies` runs it, without the Pulumi CLI or a cloud account.

`evaluate()` hands every resource and then the whole stack to pulumi_policy's own analyzer servicer
(the object `PolicyPack` serves over gRPC), with the same protobuf requests the engine sends: wire
properties in a `Struct` (unknowns as the engine's sentinels, secrets in their envelope), resource
options, parent, dependencies and property dependencies, the stack's tags, and the policy config
with the schema defaults filled in. Deserialisation, unknown-value proxies, enforcement levels and
the "can't run during preview" downgrade are therefore the analyzer's, not a re-implementation.

`check_stack()` judges the plan `policies.plan.run_program` records (the stack's program run
in-process under mocks): the `RegisterResource` requests a preview would send.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from google.protobuf import json_format, struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy
from pulumi_policy.policy import _PolicyAnalyzerServicer

from policies.plan import PlannedResource, run_program
from policies.rules import all_policies, default_config, rule_by_name
from policies.rules.azure.container_apps import FIRST_DEPLOYMENT, IMAGE_BEFORE_APP
from policies.rules.common import ANY_RESOURCE, PACK_NAME, Rule

PACK_VERSION = "0.1.0"
UNDECIDED_PREFIX = "can't run policy"
STACK_TARGET = "(stack)"


@dataclass(frozen=True)
class Finding:
    """One diagnostic from the pack."""

    rule_id: str
    policy: str
    target: str  # `type::name` of the resource, or "(stack)"
    enforcement: str  # mandatory | advisory
    severity: str
    message: str
    undecided: bool = False  # a value the rule needs is unknown until `pulumi up`


@dataclass
class GateReport:
    stack: str
    resources: int
    findings: list[Finding]
    seconds: float = 0.0
    #: The planned resources judged (set by `check_stack`), for views beyond the findings (`engram
    #: check`'s paths, `--export-arm`).
    plan: list[PlannedResource] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Finding]:
        return [f for f in self.findings if f.enforcement == "mandatory"]

    @property
    def undecided(self) -> list[Finding]:
        return [f for f in self.findings if f.undecided]

    @property
    def passed(self) -> bool:
        return not self.mandatory


_LEVEL_NAMES = {
    proto.ADVISORY: "advisory",
    proto.MANDATORY: "mandatory",
    proto.DISABLED: "disabled",
    proto.REMEDIATE: "remediate",
}
_TO_PROTO = {
    EnforcementLevel.ADVISORY: proto.ADVISORY,
    EnforcementLevel.MANDATORY: proto.MANDATORY,
    EnforcementLevel.DISABLED: proto.DISABLED,
    EnforcementLevel.REMEDIATE: proto.REMEDIATE,
}
_SEVERITY_NAMES = {
    proto.POLICY_SEVERITY_LOW: "low",
    proto.POLICY_SEVERITY_MEDIUM: "medium",
    proto.POLICY_SEVERITY_HIGH: "high",
    proto.POLICY_SEVERITY_CRITICAL: "critical",
}


def merged_config(overrides: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """The schema defaults with a customer's per-policy overrides on top."""
    config = default_config()
    for name, values in (overrides or {}).items():
        config.setdefault(name, {}).update(values)
    return config


def _struct(values: Mapping[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    json_format.ParseDict(dict(values), message)
    return message


def _described(resource: PlannedResource) -> dict[str, Any]:
    """The fields the engine sends for a resource in both `Analyze` and `AnalyzeStack` requests."""
    options = proto.AnalyzerResourceOptions(
        protect=resource.protect, parent=resource.parent or "", ignoreChanges=list(resource.ignore_changes)
    )
    return {
        "type": resource.type,
        "properties": _struct(resource.properties),
        "urn": resource.urn,
        "name": resource.name,
        "options": options,
    }


def _servicer(
    policies: Sequence[Policy],
    config: Mapping[str, Mapping[str, Any]],
    stack: str,
    stack_tags: Mapping[str, str],
) -> _PolicyAnalyzerServicer:
    servicer = _PolicyAnalyzerServicer(PACK_NAME, PACK_VERSION, list(policies), EnforcementLevel.MANDATORY)
    # The engine sends every policy's effective enforcement level with its config.
    request = proto.ConfigureAnalyzerRequest()
    for policy in policies:
        level = policy.enforcement_level or EnforcementLevel.MANDATORY
        request.policyConfig[policy.name].CopyFrom(
            proto.PolicyConfig(
                enforcementLevel=_TO_PROTO[level], properties=_struct(config.get(policy.name, {}))
            )
        )
    servicer.Configure(request, None)  # type: ignore[no-untyped-call]
    servicer.ConfigureStack(
        proto.AnalyzerStackConfigureRequest(
            stack=stack, project="engram", dry_run=True, tags=dict(stack_tags)
        ),
        None,
    )
    return servicer


def _may_apply(policy: Policy, resource_type: str, rules: Mapping[str, Rule]) -> bool:
    """Whether a resource policy can report on this type (its rule's `resource_types`, or `*`).

    The servicer deserialises a resource's properties afresh for every policy it holds, and each of
    our rules returns at once on a type it does not cover; handing the servicer only the rules that
    can fire gives the same findings for a fraction of the work. A policy we hold no rule for (a
    customer's) is always kept.
    """
    if not isinstance(policy, ResourceValidationPolicy):
        return False
    rule = rules.get(policy.name)
    return rule is None or ANY_RESOURCE in rule.resource_types or resource_type in rule.resource_types


def _finding(diagnostic: Any, target: str) -> Finding:
    rules = rule_by_name()
    rule = rules.get(diagnostic.policyName)
    message: str = diagnostic.message
    if message.startswith(diagnostic.description + "\n"):
        message = message[len(diagnostic.description) + 1 :]
    return Finding(
        rule_id=rule.id if rule else diagnostic.policyName,
        policy=diagnostic.policyName,
        target=target,
        enforcement=_LEVEL_NAMES.get(diagnostic.enforcementLevel, "advisory"),
        severity=_SEVERITY_NAMES.get(diagnostic.severity, rule.severity.value if rule else ""),
        message=message,
        undecided=message.startswith(UNDECIDED_PREFIX),
    )


def evaluate(
    resources: Sequence[PlannedResource],
    *,
    stack: str,
    stack_tags: Mapping[str, str] | None = None,
    config: Mapping[str, Mapping[str, Any]] | None = None,
    policies: Sequence[Policy] | None = None,
) -> GateReport:
    """Run the pack over a planned stack exactly as the analyzer would; return its findings."""
    started = time.perf_counter()
    pack = list(policies) if policies is not None else all_policies()
    settings = merged_config(config)
    servicer = _servicer(pack, settings, stack, stack_tags or {})
    targets = {r.urn: f"{r.type}::{r.name}" for r in resources}
    findings: list[Finding] = []
    analyzed = [r for r in resources if r.custom]
    rules = rule_by_name()
    by_type: dict[str, _PolicyAnalyzerServicer | None] = {}
    for resource in analyzed:
        if resource.type not in by_type:
            scoped = [p for p in pack if _may_apply(p, resource.type, rules)]
            by_type[resource.type] = _servicer(scoped, settings, stack, stack_tags or {}) if scoped else None
        scoped_servicer = by_type[resource.type]
        if scoped_servicer is None:
            continue  # no resource rule covers this type
        request = proto.AnalyzeRequest(**_described(resource))
        response = scoped_servicer.Analyze(request, None)  # type: ignore[no-untyped-call]
        findings += [_finding(d, targets[resource.urn]) for d in response.diagnostics]
    stack_request = proto.AnalyzeStackRequest(
        resources=[
            proto.AnalyzerResource(
                **_described(r),
                parent=r.parent or "",
                dependencies=list(r.dependencies),
                propertyDependencies={
                    key: proto.AnalyzerPropertyDependencies(urns=list(urns))
                    for key, urns in r.property_dependencies.items()
                },
            )
            for r in analyzed
        ]
    )
    response = servicer.AnalyzeStack(stack_request, None)  # type: ignore[no-untyped-call]
    findings += [_finding(d, targets.get(d.urn, STACK_TARGET)) for d in response.diagnostics]
    return GateReport(stack, len(analyzed), findings, time.perf_counter() - started)


def check_stack(
    stack: str,
    config_dir: Path | None = None,
    *,
    config_overrides: Mapping[str, Any] | None = None,
    policy_config: Mapping[str, Mapping[str, Any]] | None = None,
    stack_tags: Mapping[str, str] | None = None,
) -> GateReport:
    """Plan `stack` under mocks (`policies.plan.run_program`) and run the pack over it.

    Raises `policies.plan.OfflineRunError` when the stack cannot be planned (no config, program error).
    """
    started = time.perf_counter()
    plan = run_program(stack, config_dir, config_overrides=config_overrides)
    # Offline, every plan starts from an empty subscription: rules that care are told so.
    first: dict[str, dict[str, Any]] = {IMAGE_BEFORE_APP.name: {FIRST_DEPLOYMENT: True}}
    for name, values in (policy_config or {}).items():
        first[name] = {**first.get(name, {}), **values}
    report = evaluate(plan.resources, stack=stack, stack_tags=stack_tags, config=first)
    report.plan = [r for r in plan.resources if r.custom]
    report.seconds = time.perf_counter() - started
    return report


def mandatory_rule_ids(findings: Iterable[Finding]) -> set[str]:
    return {f.rule_id for f in findings if f.enforcement == "mandatory"}
