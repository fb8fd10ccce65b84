"""Engram: the FastAPI service for chat and voice with AI agents, and its CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("engram-platform")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+local"
