"""The built web UI (`app/web/dist`) at `/` for local use, with the single-page-app fallback.

In Azure the UI is on Static Web Apps (`public/staticwebapp.config.json` holds the same fallback);
this gives `engram serve` the same behaviour on one origin. It is wired only when the build exists.
It takes the router's not-found slot instead of adding a catch-all route, so every API route wins
however late it is included, and unknown `/api/...` paths still get the JSON 404.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

#: Where `npm run build` writes the UI (inside the package, so an installed wheel can carry it).
WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"

#: Paths that belong to the API: never answered with the UI.
_API_PREFIXES = ("/api/", "/docs", "/redoc", "/openapi.json", "/health", "/ready")

# Security headers (nosniff, frame deny, referrer) come from the security middleware for every path.
_INDEX_HEADERS = {"Cache-Control": "no-cache"}
_ASSET_HEADERS = {"Cache-Control": "public, max-age=31536000, immutable"}


class SpaFallback:
    """ASGI not-found handler: a file of the build, else `index.html` for page routes, else 404."""

    def __init__(self, dist: Path, fallback: ASGIApp) -> None:
        self.dist = dist.resolve()
        self.fallback = fallback

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] not in ("GET", "HEAD")
            or path == "/api"
            or path.startswith(_API_PREFIXES)
        ):
            await self.fallback(scope, receive, send)
            return
        response = self._response(path)
        if response is None:
            await self.fallback(scope, receive, send)
        else:
            await response(scope, receive, send)

    def _response(self, path: str) -> Response | None:
        relative = path.lstrip("/")
        if relative:
            candidate = (self.dist / relative).resolve()
            if candidate.is_relative_to(self.dist) and candidate.is_file():
                hashed = candidate.parent == self.dist / "assets"
                return FileResponse(candidate, headers=_ASSET_HEADERS if hashed else _INDEX_HEADERS)
            # A missing file (it has an extension, or sits under assets/) is a real 404, not a page.
            if relative.startswith("assets/") or "." in PurePosixPath(relative).name:
                return None
        return FileResponse(self.dist / "index.html", headers=_INDEX_HEADERS, media_type="text/html")


def mount_web(app: FastAPI, dist: Path = WEB_DIST) -> bool:
    """Serve the UI build from `dist` when it exists; returns whether it did."""
    if not (dist / "index.html").is_file():
        return False
    current = app.router.default
    original = current.fallback if isinstance(current, SpaFallback) else current
    app.router.default = SpaFallback(dist, original)
    return True
