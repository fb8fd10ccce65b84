"""Render `docs/policies.md` from the rule catalogue, so the page can never drift from the pack.

`engram check --write-docs` (or `make policy-docs`) rewrites the file; a test fails when it is stale.
"""

from __future__ import annotations

from pathlib import Path

from policies.rules import CATALOGUE
from policies.rules.common import ENVIRONMENT_OF_LEVEL, PACK_NAME
from policies.rules.hosting import CPU_CAP, MAX_REPLICAS, MEMORY_CAP_GIB

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "policies.md"


def _levels(levels: frozenset[int]) -> str:
    return ", ".join(f"{ENVIRONMENT_OF_LEVEL[level]} ({level})" for level in sorted(levels))


def _equivalents(psrule: str | None, checkov: str | None) -> str:
    parts = [f"PSRule `{psrule}`" if psrule else "", f"Checkov `{checkov}`" if checkov else ""]
    return "; ".join(p for p in parts if p) or "none"


def render() -> str:
    lines = [
        f"# Policy pack `{PACK_NAME}`",
        "",
        "<!-- Generated from policies/rules by `engram check --write-docs`; do not edit by hand. -->",
        "",
        "The SOP's controls as code. `pulumi preview --policy-pack policies` runs them with the Pulumi CLI;",
        "`engram check --stack <name>` / `--all` runs the same pack offline (the stack's program under "
        "mocks,",
        "every resource and the stack through pulumi-policy's analyzer) and exits non-zero on any mandatory",
        "violation.",
        "",
        "## How a rule finds the SOP level",
        "",
        "1. the resource's `sop-level` and `environment` tags (the stricter one if they disagree);",
        "2. else the stack's tags; 3. else the stack name (`prod`, `contoso-prod`, ...);",
        "4. else level 5: an unidentified stack is judged as production.",
        "",
        "Levels: staging = 1, dev = 2, test = 3, uat = 4, prod = 5.",
        "",
        "## Values unknown at preview",
        "",
        "A value computed by Azure (an id, an endpoint) is unknown during a preview. Rules read only what",
        "they decide on: names and keys are read without touching values, links between resources are",
        "followed through property dependencies. When a deciding value is unknown, the analyzer reports",
        '"can\'t run policy ... during preview" as an advisory and the rule runs again at `pulumi up`;',
        "`engram check` lists these as undecided.",
        "",
        "## Sizing matrix (SOP section 7)",
        "",
        "| Level | Environment | max vCPU | max memory | max replicas |",
        "|---|---|---|---|---|",
    ]
    for level in sorted(ENVIRONMENT_OF_LEVEL):
        lines.append(
            f"| {level} | {ENVIRONMENT_OF_LEVEL[level]} | {CPU_CAP[level]:g} | {MEMORY_CAP_GIB[level]:g} GiB "
            f"| {MAX_REPLICAS[level]} |"
        )
    lines += [
        "",
        "uat and prod also need `minReplicas >= 1`. The SOP gives no size for dev and uat: dev takes",
        "staging's, uat takes prod's.",
        "",
        "## Rules",
        "",
        "Two sets: the **SOP rules** (`SOP-*`) are the operating procedure's controls; the **Azure",
        "deployability rules** (`AZ-*`) are Azure's own rules (what it refuses at creation, what a tier",
        "cannot do, what a resource needs beside it to work), each citing the document or issue it encodes.",
        "",
    ]
    sop = [e for e in CATALOGUE if not e.rule.is_azure_rule]
    azure = [e for e in CATALOGUE if e.rule.is_azure_rule]
    lines += ["### SOP rules", "", "| Id | Policy | Levels | Enforcement | Severity |"]
    lines.append("|---|---|---|---|---|")
    for entry in sop:
        rule = entry.rule
        lines.append(
            f"| [{rule.id}](#{rule.id.lower()}) | `{rule.name}` | {_levels(rule.levels)} | "
            f"{rule.enforcement.value} | {rule.severity.value} |"
        )
    lines += ["", "### Azure deployability rules", "", "| Id | Policy | What | Source |", "|---|---|---|---|"]
    for entry in azure:
        rule = entry.rule
        link = f"[{rule.id}](#{rule.id.lower()})"
        lines.append(f"| {link} | `{rule.name}` | {rule.description} | {rule.source} |")
    for entry in [*sop, *azure]:
        rule = entry.rule
        targets = (
            "the whole stack" if rule.is_stack_rule else ", ".join(f"`{t}`" for t in rule.resource_types)
        )
        basis = (
            f"- **Source:** {rule.source}"
            if rule.is_azure_rule
            else f"- **SOP section:** {rule.sop_section}; **severity:** {rule.severity.value}; "
            f"**enforcement:** {rule.enforcement.value}"
        )
        lines += [
            "",
            f"#### {rule.id}",
            "",
            f"`{rule.name}`: {rule.description}",
            "",
            f"- **Why:** {rule.why}",
            f"- **Fix:** {rule.fix}",
            f"- **Applies to:** {targets}; levels {_levels(rule.levels)}",
            basis,
            f"- **Equivalents:** {_equivalents(rule.psrule, rule.checkov)}",
        ]
        if rule.config_schema is not None:
            for key, prop in rule.config_schema.properties.items():
                lines.append(
                    f"- **Config `{key}`** ({prop['type']}, default `{prop.get('default')}`): "
                    f"{prop['description']}"
                )
    lines += [
        "",
        "## Customer configuration",
        "",
        "Pass a policy config file to `pulumi preview --policy-pack policies --policy-pack-config <file>` or",
        "`engram check --policy-config <file>`:",
        "",
        "```json",
        "{",
        '  "engram-azure-resource-configure-allowed-location": '
        '{"allowedLocations": ["eastus2", "centralus"]},',
        '  "engram-app-containerapp-configure-max-replicas": {"maxReplicas": {"prod": 20}},',
        '  "engram-app-containerapp-enforce-mfa": {"mfaAuthContextId": "c3"}',
        "}",
        "```",
        "",
    ]
    return "\n".join(lines)


def write(path: Path | None = None) -> Path:
    path = path or DOCS_PATH
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(), encoding="utf-8")
    return path
