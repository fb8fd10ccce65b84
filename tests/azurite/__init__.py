"""Azurite (the Blob Storage emulator, from npm: tests/azurite/package.json) started per test session."""
