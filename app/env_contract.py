"""The deployed service's environment contract: the variable each setting is read from, and its text.

The stacks (components/platform.py) set the container app's environment from the stack profile. They
name what they set by `Settings` field; this module turns a field into the variable pydantic-settings
reads it from (no prefix, so `auth_required` is `AUTH_REQUIRED`) and a value into the text that parses
back to it. A stack that sets a field `Settings` does not have fails at build time, not as a variable
the running service silently ignores. No Pulumi here: the service image ships `app/` without it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from app.settings import Settings

#: A plain setting value as a stack sets it.
PlainValue = bool | int | str | Sequence[str]


def env_name(setting: str) -> str:
    """The environment variable `Settings.<setting>` is read from; a name it lacks is a KeyError."""
    if setting not in Settings.model_fields:
        raise KeyError(f"{setting!r} is not a field of app.settings.Settings")
    return setting.upper()


def env_value(value: PlainValue) -> str:
    """The text a setting parses back from: booleans `true`/`false`, lists as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    return json.dumps(list(value))
