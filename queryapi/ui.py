"""Browser pages of the query API: the agents' search page and the admins' status page.

Input: GET /ui/ (search), /ui/admin (sync health, reindex, dead letters, reconcile), /ui/static/<name> (a fixed
list of files in queryapi/static), and GET /ui/session with `Authorization: Bearer <key>`.
Output: static HTML/CSS/JS that call the JSON API (/v1/...) from the browser with the key kept in
sessionStorage; /ui/session answers `{"tenant_id", "role"}` of the key, so the pages know who signed in.
Guarantee: the pages carry no data of their own and never name a tenant: every request they make is
authorized by the key alone (the tenant comes from the credential, as everywhere in the API); only listed
files are served (no path from the request reaches the file system); a Content-Security-Policy forbids
inline scripts and foreign origins, so even a rendering bug cannot run injected markup.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response

STATIC = Path(__file__).resolve().parent / "static"
MEDIA_TYPES = {".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
               ".js": "text/javascript; charset=utf-8", ".svg": "image/svg+xml"}
FILES = frozenset({"search.html", "admin.html", "ui.css", "common.js", "search.js", "admin.js", "favicon.svg"})
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; font-src 'self'; form-action 'self'; base-uri 'none'; "
                                "frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def _file(name: str) -> Response:
    if name not in FILES:
        return JSONResponse(status_code=404, content={"error": {"code": "not_found", "message": "no such file"}})
    path = STATIC / name
    return FileResponse(path, media_type=MEDIA_TYPES[path.suffix], headers=SECURITY_HEADERS)


@router.get("/ui")
def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=307)


@router.get("/ui/")
def search_page() -> Response:
    return _file("search.html")


@router.get("/ui/admin")
def admin_page() -> Response:
    return _file("admin.html")


@router.get("/ui/static/{name}")
def static_file(name: str) -> Response:
    return _file(name)


@router.get("/ui/session")
def session(request: Request) -> dict[str, object]:
    """Who the key is: the pages show the tenant and offer the admin page to the admin role only.

    Authentication failures raise the API's AuthError, which the app turns into a JSON 401."""
    principal = request.app.state.auth.authenticate(request.headers.get("authorization"))
    return {"tenant_id": principal.tenant_id, "role": principal.role}
