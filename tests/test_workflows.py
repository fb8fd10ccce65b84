"""The pipeline files: every workflow parses, and every `engram` / `make` call in them exists.

`engram` calls are checked against the real typer app (command path and each `--option`), `make`
targets against the Makefile, local actions against the tree. Plus the deploy contract: OIDC sign-in
with no stored Azure secret, the policy pack on every `pulumi up`, production behind its environment.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main
import yaml

from app.cli import cli

ROOT = Path(__file__).parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
EXPECTED = {"ci.yml", "deploy.yml", "e2e-tests.yml", "load-tests.yml", "security-scan.yml"}


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    assert isinstance(document, dict), f"{path.name} is not a mapping"
    # YAML 1.1 reads the key `on` as True
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(document: dict[str, Any]) -> list[dict[str, Any]]:
    if "runs" in document:
        return list(document["runs"].get("steps", []))
    return [step for job in document["jobs"].values() for step in job.get("steps", [])]


def shell_lines(document: dict[str, Any]) -> list[str]:
    """Each logical line of every `run:` script, with `${{ }}` expressions replaced by a word."""
    lines: list[str] = []
    for step in steps(document):
        script = re.sub(r"\$\{\{.*?\}\}", "EXPR", step.get("run", ""))
        lines.extend(line.strip() for line in script.replace("\\\n", " ").splitlines() if line.strip())
    return lines


def calls(lines: list[str], program: str) -> list[list[str]]:
    """The argument lists following each invocation of `program` (also `.venv/bin/program`)."""
    found = []
    for line in lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            words = line.split()
        for index, word in enumerate(words):
            if word in (program, f".venv/bin/{program}", f"$(BIN)/{program}"):
                rest = []
                for arg in words[index + 1 :]:
                    if arg in ("|", "||", "&&", ";", ">", ">>") or arg.startswith(("|", ">")):
                        break
                    rest.append(arg)
                found.append(rest)
    return found


def every_file() -> list[Path]:
    return WORKFLOWS + ACTIONS


def test_the_five_workflows_exist() -> None:
    assert {p.name for p in WORKFLOWS} >= EXPECTED


@pytest.mark.parametrize("path", every_file(), ids=lambda p: p.parent.name + "/" + p.name)
def test_file_parses_with_jobs_or_steps(path: Path) -> None:
    document = load(path)
    if path.name == "action.yml":
        assert document["runs"]["using"] == "composite"
        return
    assert "on" in document and document["jobs"], path.name
    assert "permissions" in document, f"{path.name}: set least-privilege permissions explicitly"
    for name, job in document["jobs"].items():
        assert "runs-on" in job, f"{path.name}: job {name} has no runs-on"


@pytest.mark.parametrize("path", every_file(), ids=lambda p: p.parent.name + "/" + p.name)
def test_every_engram_call_exists(path: Path) -> None:
    root = typer.main.get_command(cli)
    for argv in calls(shell_lines(load(path)), "engram"):
        command: Any = root  # typer vendors its own click: duck-type groups by their `commands`
        words = list(argv)
        path_words: list[str] = []
        while hasattr(command, "commands") and words and not words[0].startswith("-"):
            name = words.pop(0)
            sub = command.commands.get(name)
            assert sub is not None, f"{path.name}: `engram {' '.join(path_words + [name])}` does not exist"
            path_words.append(name)
            command = sub
        assert not hasattr(command, "commands"), f"{path.name}: `engram {' '.join(argv)}` names no command"
        options = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in words:
            if word.startswith("--"):
                flag = word.split("=", 1)[0]
                assert flag in options, f"{path.name}: `engram {' '.join(path_words)}` has no option {flag}"


@pytest.mark.parametrize("path", every_file(), ids=lambda p: p.parent.name + "/" + p.name)
def test_every_make_target_exists(path: Path) -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", makefile, flags=re.MULTILINE))
    for argv in calls(shell_lines(load(path)), "make"):
        for word in argv:
            if not word.startswith("-") and "=" not in word:
                assert word in targets, f"{path.name}: `make {word}` is not a Makefile target"


@pytest.mark.parametrize("path", every_file(), ids=lambda p: p.parent.name + "/" + p.name)
def test_local_actions_exist(path: Path) -> None:
    for step in steps(load(path)):
        uses = step.get("uses", "")
        if uses.startswith("./"):
            assert (ROOT / uses / "action.yml").exists(), f"{path.name}: {uses} has no action.yml"


def test_ci_runs_the_readme_test_command_and_the_gate() -> None:
    lines = shell_lines(load(ROOT / ".github/workflows/ci.yml"))
    assert ["test"] in calls(lines, "make")
    assert ["check", "--all"] in calls(lines, "engram")


def test_deploy_signs_in_with_oidc_and_stores_no_secret() -> None:
    document = load(ROOT / ".github/workflows/deploy.yml")
    assert document["permissions"]["id-token"] == "write"
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    for step in steps(document):
        if step.get("uses", "").startswith("azure/login"):
            assert set(step["with"]) == {"client-id", "tenant-id", "subscription-id"}  # no creds / secret
    secrets = set(re.findall(r"secrets\.([A-Z_]+)", text))
    assert secrets <= {"PULUMI_ACCESS_TOKEN"}, f"unexpected secrets: {secrets}"


def test_deploy_offers_the_hosted_environments_and_gates_production() -> None:
    document = load(ROOT / ".github/workflows/deploy.yml")
    choice = document["on"]["workflow_dispatch"]["inputs"]["environment"]
    # dev is local-first (no container app, registry or Static Web App): nothing to deploy or verify.
    assert choice["options"] == ["staging", "test", "uat", "production"]
    dev = yaml.safe_load((ROOT / "stacks/Pulumi.dev.yaml").read_text())["config"]["engram:hosting"]
    assert dev["mode"] == "local"  # the reason; a hosted dev stack would belong back in the list
    assert "No `dev` choice" in (ROOT / ".github/workflows/deploy.yml").read_text()
    for env in choice["options"]:
        stack = "prod" if env == "production" else env
        assert (ROOT / "stacks" / f"Pulumi.{stack}.yaml").exists(), f"no stack config for {env}"
    production = document["jobs"]["deploy-production"]
    assert production["environment"]["name"] == "production"
    lines = shell_lines(document)
    assert all("--policy-pack policies" in line for line in lines if line.startswith("pulumi up"))
    assert any(line.startswith("pulumi up") for line in lines)
    engram = calls(lines, "engram")
    assert any(argv[0] == "verify" for argv in engram) and any(argv[0] == "rollback" for argv in engram)
    # blue-green: the new revision gets a suffix and is smoke-tested on its own URL before traffic moves
    text = "\n".join(lines)
    assert "--revision-suffix" in text and "ingress traffic set" in text


def test_production_blue_green_relies_on_the_stacks_revision_mode() -> None:
    """The prod stack config sets Multiple revision mode; the workflow must not switch it itself, and
    its `pulumi up` refreshes first so the ignored image/suffix/traffic come from Azure, not stale state."""
    document = load(ROOT / ".github/workflows/deploy.yml")
    production = shell_lines({"jobs": {"p": document["jobs"]["deploy-production"]}})
    assert not any("revision set-mode" in line for line in production)
    ups = [line for line in production if line.startswith("pulumi up")]
    assert ups and all("--refresh" in line for line in ups)
    prod = yaml.safe_load((ROOT / "stacks/Pulumi.prod.yaml").read_text())
    assert prod["config"]["engram:hosting"]["activeRevisionsMode"] == "Multiple"


@pytest.mark.parametrize("name", ["load-tests.yml", "e2e-tests.yml"])
def test_deployed_stack_runs_sign_in_with_oidc_and_store_no_secret(name: str) -> None:
    """The load and e2e runs against a deployed stack use the test tier's service principal through
    OIDC (azure/login without a secret) and `az account get-access-token`: no stored secret at all."""
    document = load(ROOT / ".github/workflows" / name)
    assert document["permissions"]["id-token"] == "write"
    logins = [step for step in steps(document) if step.get("uses", "").startswith("azure/login")]
    assert logins and all(
        set(step["with"]) == {"client-id", "tenant-id", "subscription-id"} for step in logins
    )
    assert "az account get-access-token" in "\n".join(shell_lines(document))
    assert not re.findall(r"secrets\.", (ROOT / ".github/workflows" / name).read_text())
    choice = document["on"]["workflow_dispatch"]["inputs"]["environment"]
    assert choice["options"] == ["staging", "test", "uat"]


def test_load_scripts_the_workflow_runs_exist() -> None:
    text = (ROOT / ".github/workflows/load-tests.yml").read_text()
    for script in re.findall(r"scripts/load-tests/[\w-]+\.js", text):
        assert (ROOT / script).is_file(), script


def test_e2e_runs_the_chosen_suite_by_marker() -> None:
    document = load(ROOT / ".github/workflows/e2e-tests.yml")
    suite = document["on"]["workflow_dispatch"]["inputs"]["test_suite"]
    assert suite["options"] == ["chat", "voice", "all"]
    assert document["jobs"]["e2e"]["strategy"]["matrix"]["suite"] == ["chat", "voice"]
    text = "\n".join(shell_lines(document))
    assert "E2E_BASE_URL" in text and "E2E_TOKEN" in text
    markers = (ROOT / "pyproject.toml").read_text()
    assert all(f'"{name}: ' in markers for name in ("chat", "voice", "uat", "e2e"))


# --- the UI ships with every deployment, built from the stack's own outputs -------------------------------

DEPLOY_UI = "./.github/actions/deploy-ui"


def _job_steps(job: str) -> list[dict[str, Any]]:
    return list(load(ROOT / ".github/workflows/deploy.yml")["jobs"][job]["steps"])


def _index(found: list[dict[str, Any]], predicate: Any, what: str) -> int:
    indexes = [i for i, step in enumerate(found) if predicate(step)]
    assert indexes, f"no step {what}"
    return indexes[0]


def _runs(text: str) -> Any:
    return lambda step: text in step.get("run", "")


@pytest.mark.parametrize("job", ["deploy", "deploy-production"])
def test_the_ui_is_built_and_uploaded_after_the_infrastructure_and_before_the_last_verify(job: str) -> None:
    found = _job_steps(job)
    ui = _index(found, lambda step: step.get("uses") == DEPLOY_UI, "deploying the UI")
    last_up = max(i for i, step in enumerate(found) if "pulumi up" in step.get("run", ""))
    assert ui > last_up, "the UI needs the stack's outputs of this deployment"
    verifies = [i for i, step in enumerate(found) if "engram verify" in step.get("run", "")]
    if job == "deploy":
        assert ui < verifies[-1], "the smoke test runs against what was just deployed, UI included"
    else:
        # prod: the UI follows the API only once the new revision has held under watch
        assert ui > _index(found, _runs("ingress traffic set"), "shifting traffic")
        assert ui > verifies[-1]
    assert found[ui]["with"]["stack"] in ("${{ env.STACK }}", "prod")


def test_the_ui_action_builds_with_every_vite_output_and_uploads_with_the_sites_token() -> None:
    action = load(ROOT / ".github/actions/deploy-ui/action.yml")
    found = list(action["runs"]["steps"])
    outputs = _index(found, _runs("pulumi stack output"), "reading the stack outputs")
    assert 'startswith("VITE_")' in found[outputs]["run"] and "GITHUB_ENV" in found[outputs]["run"]
    build = _index(found, _runs("npm run build"), "building the UI")
    assert found[build]["working-directory"] == "app/web" and "npm ci" in found[build]["run"]
    token = _index(found, _runs("az staticwebapp secrets list"), "reading the deployment token")
    assert "staticSiteName" in found[token]["run"] and "::add-mask::" in found[token]["run"]
    upload = _index(
        found, lambda step: step.get("uses", "").startswith("Azure/static-web-apps-deploy@"), "upload"
    )
    assert outputs < build < upload and token < upload
    settings = found[upload]["with"]
    assert settings["action"] == "upload" and settings["skip_app_build"] is True
    assert settings["app_location"] == "app/web/dist"
    assert settings["azure_static_web_apps_api_token"] == "${{ env.SWA_DEPLOYMENT_TOKEN }}"


def test_every_variable_the_ui_reads_is_a_stack_output() -> None:
    """config.ts reads VITE_* at build time; an Entra stack must output each, or the UI builds in POC mode."""
    from tests.components.conftest import plan_for

    config_ts = (ROOT / "app/web/src/config.ts").read_text()
    # Optional, with safe defaults when unset: VITE_ENTRA_AUTHORITY (Entra's public cloud for the tenant)
    # and VITE_DICTATION (off; issue 22).
    optional = {"VITE_ENTRA_AUTHORITY", "VITE_DICTATION"}
    read = set(re.findall(r"\b(VITE_[A-Z_]+)\?:", config_ts)) - optional
    assert read >= {"VITE_AUTH_MODE", "VITE_ENTRA_CLIENT_ID", "VITE_ENTRA_TENANT_ID", "VITE_API_SCOPE"}
    for stack in ("test", "uat", "prod"):
        missing = read - set(plan_for(stack).outputs)
        assert not missing, f"{stack} does not output {missing}"
    assert plan_for("uat").outputs["VITE_AUTH_MODE"] == "entra"
    assert "staticSiteName" in plan_for("uat").outputs


def test_production_takes_the_app_name_from_the_stack_after_a_first_deployment() -> None:
    found = _job_steps("deploy-production")
    first = _index(found, _runs("registryLoginServer >/dev/null"), "creating a new stack")
    assert "pulumi up" in found[first]["run"] and "stack select --create prod" in found[first]["run"]
    names = _index(found, _runs("containerAppName"), "reading the app name")
    assert "resourceGroupName" in found[names]["run"] and "ENGRAM_CONTAINER_APP=" in found[names]["run"]
    users = [i for i, step in enumerate(found) if "$ENGRAM_CONTAINER_APP" in step.get("run", "")]
    assert users and first < names < min(users), "the blue-green steps read the app only once it exists"
    text = (ROOT / ".github/workflows/deploy.yml").read_text()
    assert "CONTAINER_APP_NAME" not in text and "AZURE_RESOURCE_GROUP" not in text
    blue = _index(found, _runs("latestReadyRevisionName"), "recording blue")
    assert 'tag="$IMAGE_TAG"' in found[blue]["run"], "a first deployment's blue is the bootstrap image"


@pytest.mark.parametrize("job", ["deploy", "deploy-production"])
def test_the_smoke_test_token_is_for_the_stacks_own_api(job: str) -> None:
    found = _job_steps(job)
    token = _index(found, _runs("az account get-access-token"), "getting the smoke-test token")
    assert "VITE_API_SCOPE" in found[token]["run"] and "vars." not in found[token]["run"]
    assert token < _index(found, _runs("engram verify"), "verifying")


def test_load_tests_find_the_app_without_removed_variables() -> None:
    """The deploy workflow no longer keeps CONTAINER_APP_NAME / AZURE_RESOURCE_GROUP variables (the app's
    name carries a suffix only the stack knows): the load run finds the app by its SOP tags instead."""
    text = (ROOT / ".github/workflows/load-tests.yml").read_text()
    assert "vars.CONTAINER_APP_NAME" not in text and "vars.AZURE_RESOURCE_GROUP" not in text
    assert "tags.environment=='${{ inputs.environment }}'" in text
