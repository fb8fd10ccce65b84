"""Start the real app (migrated) against the wire doubles and talk to it over ASGI."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import Settings


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    app = create_app(settings)
    await upgrade(app.state.engine)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=30) as client:
            yield app, client


def auth(user: str, role: str = "analyst") -> dict[str, str]:
    """Development tokens (`dev_<user>_<role>`) are honoured in the development environment."""
    return {"Authorization": f"Bearer dev_{user}_{role}"}


def sse_events(body: str) -> list[tuple[str, Any]]:
    events = []
    for block in body.strip().split("\n\n"):
        name, data = "", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
        events.append((name, json.loads(data)))
    return events
