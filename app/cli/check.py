"""`engram check`: the SOP policy pack over one or all stacks, offline (no Pulumi CLI, no Azure).

Each stack's program runs in-process under mocks; every planned resource and the stack go through the
`engram-sop` pack's validators as `pulumi preview --policy-pack policies` would run them. Prints one
table per stack (rule id, resource, level, message), then the stack's runtime network paths (source,
target, verdict, route or failing hop, fix; `policies.paths`), and exits 1 on any mandatory violation -
an unreachable required path is one (AZ-PATH-001).

`--export-arm DIR` also writes each checked stack's plan as an ARM deployment template,
`DIR/<stack>.json` (`policies.arm_export`), so the field's scanners (Checkov, PSRule for Azure) can
judge it; the pack still runs as without it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from policies.gate import GateReport

EXIT_VIOLATIONS = 1
WIDE_LOG = 180  # columns when printing to a file or pipe
EXIT_USAGE = 2


def _load_policy_config(path: Path | None) -> dict[str, dict[str, Any]]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read policy config {path}: {exc}") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise typer.BadParameter('policy config must map policy names to objects, e.g. {"<policy>": {...}}')
    return data


def _table(report: GateReport) -> Table:
    table = Table(title=f"engram-sop: stack {report.stack}", show_lines=False)
    for column in ("Rule", "Resource", "Level", "Message"):
        table.add_column(column, overflow="fold")
    order = {"mandatory": 0, "advisory": 1}
    for finding in sorted(report.findings, key=lambda f: (order.get(f.enforcement, 2), f.rule_id, f.target)):
        level = "undecided" if finding.undecided else finding.enforcement
        style = "red" if finding.enforcement == "mandatory" else "yellow"
        table.add_row(finding.rule_id, finding.target, f"[{style}]{level}[/{style}]", finding.message)
    return table


_VERDICT_STYLE = {"reachable": "green", "unreachable": "red", "undecided": "yellow", "not required": "dim"}


def _paths_table(report: GateReport) -> Table | None:
    """Every runtime network path of the planned stack with its verdict (the AZ-PATH-001 model)."""
    if not report.plan:
        return None
    from policies import paths

    table = Table(title=f"runtime paths: stack {report.stack}", show_lines=False)
    for column in ("Source", "Target", "Verdict", "Route / failing hop", "Fix"):
        table.add_column(column, overflow="fold")
    for path in paths.analyse(report.plan):
        style = _VERDICT_STYLE.get(path.verdict, "white")
        route = path.hop if path.verdict == paths.UNREACHABLE else path.route
        table.add_row(path.source, path.target, f"[{style}]{path.verdict}[/{style}]", route, path.fix)
    return table


def _summary(report: GateReport) -> str:
    verdict = "[green]PASS[/green]" if report.passed else "[red]FAIL[/red]"
    advisory = len(report.findings) - len(report.mandatory) - len(report.undecided)
    return (
        f"{verdict} {report.stack}: {report.resources} resources, {len(report.mandatory)} mandatory, "
        f"{advisory} advisory, {len(report.undecided)} undecided at preview ({report.seconds:.2f}s)"
    )


def register(cli: typer.Typer) -> None:
    @cli.command()
    def check(
        stack: list[str] = typer.Option([], "--stack", "-s", help="Stack to check (repeatable)."),
        all_stacks: bool = typer.Option(False, "--all", help="Check every stacks/Pulumi.<name>.yaml."),
        config_dir: Path | None = typer.Option(None, help="Directory holding Pulumi.<stack>.yaml files."),
        policy_config: Path | None = typer.Option(
            None, help="JSON policy config (as for `pulumi preview --policy-pack-config`)."
        ),
        write_docs: bool = typer.Option(False, "--write-docs", help="Regenerate docs/policies.md and exit."),
        export_arm: Path | None = typer.Option(
            None,
            "--export-arm",
            metavar="DIR",
            help="Also write each stack's plan as an ARM template, DIR/<stack>.json (Checkov, PSRule).",
        ),
    ) -> None:
        """Check stacks against the SOP policy pack offline; exit 1 on a mandatory violation."""
        console = Console()
        if not console.is_terminal and "COLUMNS" not in os.environ:
            # CI logs: rich would wrap the path table at 80 columns, one route over five lines.
            console = Console(width=WIDE_LOG)
        try:
            from policies import arm_export, docs, gate
            from policies.plan import OfflineRunError, list_stacks
        except ImportError as exc:
            typer.echo(
                f"engram check needs the infra extra (pip install 'engram-platform[infra]'): {exc}", err=True
            )
            raise typer.Exit(code=EXIT_USAGE) from None
        if write_docs:
            console.print(f"wrote {docs.write()}")
            return
        config = _load_policy_config(policy_config)
        names = list_stacks(config_dir) if all_stacks else list(stack)
        if not names:
            typer.echo("name a stack with --stack <name>, or use --all", err=True)
            raise typer.Exit(code=EXIT_USAGE)
        failed = False
        for name in names:
            written: Path | None = None
            try:
                report = gate.check_stack(name, config_dir, policy_config=config)
                if export_arm is not None:  # the plan the pack judged, as a template
                    written = arm_export.write(report.plan, stack=name, directory=export_arm)
            except OfflineRunError as exc:  # the program or its config is at fault: say which stack and why
                typer.echo(f"stack {name}: {exc}", err=True)
                raise typer.Exit(code=EXIT_USAGE) from None
            except (arm_export.ExportError, OSError) as exc:
                typer.echo(f"stack {name}: cannot export the ARM template: {exc}", err=True)
                raise typer.Exit(code=EXIT_USAGE) from None
            if report.findings:
                console.print(_table(report))
            path_table = _paths_table(report)
            if path_table is not None:
                console.print(path_table)
            console.print(_summary(report))
            if written is not None:
                console.print(f"wrote {written}")
            failed = failed or not report.passed
        if failed:
            raise typer.Exit(code=EXIT_VIOLATIONS)
