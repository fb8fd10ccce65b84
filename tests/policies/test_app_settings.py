"""Service settings on the container app: ENVIRONMENT per level, AUTH_REQUIRED, DEBUG, retention."""

from __future__ import annotations

import pytest

from policies.rules import app_settings
from tests.policies.builders import (
    CONTAINER_APP,
    app_with_env,
    container_app,
    messages,
    run_resource,
)

ENVIRONMENT, AUTH, DEBUG, RETENTION = app_settings.CATALOGUE


def test_compliant_prod_app_passes() -> None:
    for entry in app_settings.CATALOGUE:
        assert run_resource(entry, CONTAINER_APP, container_app()) == [], entry.rule.id


@pytest.mark.parametrize("env", ["staging", "dev", "test", "uat", "prod"])
def test_environment_matches_level(env: str) -> None:
    assert run_resource(ENVIRONMENT, CONTAINER_APP, container_app(env), stack=env) == []


def test_development_environment_in_prod_is_violation() -> None:
    props = app_with_env(ENVIRONMENT="development")
    assert messages(run_resource(ENVIRONMENT, CONTAINER_APP, props)) == [
        "Container app env ENVIRONMENT is 'development'; set ENVIRONMENT=production for SOP level 5."
    ]


def test_auth_not_required_is_violation_from_test_up() -> None:
    props = app_with_env("test", AUTH_REQUIRED="false")
    assert messages(run_resource(AUTH, CONTAINER_APP, props, stack="test")) == [
        "Container app env AUTH_REQUIRED is 'false'; set AUTH_REQUIRED=true."
    ]
    dev = app_with_env("dev", AUTH_REQUIRED="false")
    assert run_resource(AUTH, CONTAINER_APP, dev, stack="dev") == []


def test_debug_on_is_violation_above_level_two() -> None:
    props = app_with_env("uat", DEBUG="true")
    assert messages(run_resource(DEBUG, CONTAINER_APP, props, stack="uat")) == [
        "Container app env DEBUG is 'true'; set DEBUG=false above SOP level 2."
    ]
    dev = app_with_env("dev", DEBUG="true")
    assert run_resource(DEBUG, CONTAINER_APP, dev, stack="dev") == []


def test_missing_retention_is_violation_in_prod() -> None:
    props = app_with_env(DATA_RETENTION_DAYS="forever")
    assert messages(run_resource(RETENTION, CONTAINER_APP, props)) == [
        "Container app env DATA_RETENTION_DAYS is 'forever'; set it to the retention in days (e.g. 90)."
    ]
