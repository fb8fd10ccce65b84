"""The telemetry tests use the shared in-memory `sink` fixture (defined in `tests/telemetry.py`)."""

from __future__ import annotations

from tests.telemetry import Sink

__all__ = ["Sink"]
