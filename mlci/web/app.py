"""The dashboard's web application (Starlette): routes that read records and render templates.

Records come only through mlci.record.readers; everything shown is the reader's language
(i18n.py) and goes through Jinja with autoescaping on. Every response carries a Content
Security Policy that allows scripts and styles from this server only. The only write, a rerun,
is a POST that needs a login and the session's CSRF token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from mlci.errors import MlciError, UsageError
from mlci.record.readers import find_record
from mlci.record.store import RunRecord
from mlci.secrets import redact
from mlci.web import i18n, logs, overview, plot
from mlci.web.auth import COOKIE, Auth
from mlci.web.cache import RecordCache
from mlci.web.compare import compare
from mlci.web.messages import Lang

STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
    " connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Settings:
    root: Path
    locale: Lang = "en"
    auth: Auth | None = None
    rerun: Any = None  # callable(project) -> queue id, when Jenkins is configured


def safe_link(url: str | None) -> str | None:
    """A URL a record names, as a link only when it is http(s); anything else stays text."""
    if url and url.strip().lower().startswith(("https://", "http://")) and not any(c in url for c in "\x00\r\n"):
        return url.strip()
    return None


def create_app(settings: Settings) -> Starlette:
    env = Environment(loader=PackageLoader("mlci.web", "templates"), autoescape=True)
    env.filters["safe_link"] = safe_link
    env.filters["duration"] = i18n.format_duration
    auth = settings.auth or Auth(password=None)

    def lang_of(request: Request) -> Lang:
        return i18n.from_request(
            request.query_params.get("lang"), request.headers.get("accept-language"), settings.locale
        )

    def session_of(request: Request) -> str | None:
        return auth.session_id(request.cookies.get(COOKIE))

    def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        lang = lang_of(request)
        sid = session_of(request)
        html = env.get_template(template).render(
            lang=lang,
            t=lambda key, **values: i18n.translate(lang, key, **values),
            status_label=lambda status: i18n.status_label(lang, str(status)),
            when=lambda iso: i18n.format_time(lang, iso),
            logged_in=sid is not None,
            login_enabled=auth.enabled,
            csrf=auth.csrf_token(sid) if sid else "",
            lang_query=f"lang={lang}" if request.query_params.get("lang") else "",
            **context,
        )
        return HTMLResponse(html, status_code=status_code, headers=SECURITY_HEADERS)

    cache = RecordCache(settings.root)
    load_records = cache.records

    def not_found(request: Request, why: str) -> HTMLResponse:
        return render(request, "not_found.html", status_code=404, why=why)

    def record_of(request: Request) -> RunRecord:
        return checked_record(request.path_params["project"], request.path_params["job"])

    def checked_record(project: str, job: str) -> RunRecord:
        if not job:
            raise UsageError("name a run")
        record = find_record(settings.root, project, job)
        # the listing skips linked directories; a run named in a URL must not lead out through one
        if record.dir.is_symlink() or record.dir.parent.is_symlink():
            raise UsageError(f"run '{job}' of {project} is a link out of the runs directory")
        return record

    def index(request: Request) -> Response:
        records, unreadable = load_records()
        query = request.query_params
        filters = overview.Filters(
            project=query.get("project") or None, status=query.get("status") or None,
            experiment=query.get("experiment") or None,
        )  # fmt: skip
        try:
            number = int(query.get("page", "1"))
        except ValueError:
            number = 1
        page = overview.page_of(records, filters, number)
        return render(
            request,
            "overview.html",
            latest=overview.latest_per_project(records),
            page=page,
            filters=filters,
            choices=overview.choices(records),
            key_metric=overview.key_metric,
            unreadable=unreadable,
        )

    def project_page(request: Request) -> Response:
        name = request.path_params["project"]
        records = [r for r in load_records()[0] if r.project == name]
        if not records:
            return not_found(request, name)
        return render(
            request, "project.html", project=name, plots=plot.plots(records), runs=records[:50], total=len(records)
        )

    def run_page(request: Request) -> Response:
        try:
            record = record_of(request)
        except MlciError as exc:
            return not_found(request, str(exc))
        refs = logs.log_refs(record)
        tails = {ref.key: logs.read_chunk(record, ref, None) for ref in refs}
        current = logs.current_ref(record)
        others = [r for r in load_records()[0] if r.project == record.project and r.job_id != record.job_id]
        queued = request.query_params.get("queued", "")
        return render(
            request,
            "run.html",
            record=record,
            state=record.state,
            status=record.status,
            refs=refs,
            tails=tails,
            current=current,
            tail_kib=logs.TAIL_BYTES >> 10,
            size=i18n.format_size,
            others=others[:200],
            can_rerun=settings.rerun is not None and not record.status.active and record.status.value != "Succeeded",
            queued=queued if queued.isdigit() else "",
        )

    def log_range(request: Request) -> Response:
        """A bounded piece of one log: ?offset= (default: the tail) and ?length= (at most MAX_CHUNK)."""
        try:
            record = record_of(request)
        except MlciError as exc:
            return PlainTextResponse(str(exc), status_code=404, headers=SECURITY_HEADERS)
        ref = logs.find_ref(record, request.path_params["key"])
        if ref is None:
            return PlainTextResponse("no such log", status_code=404, headers=SECURITY_HEADERS)
        offset, length = _int(request.query_params.get("offset")), _int(request.query_params.get("length"))
        chunk = logs.read_chunk(record, ref, offset, length or logs.MAX_CHUNK)
        headers = {**SECURITY_HEADERS, "X-Log-Start": str(chunk.start), "X-Log-End": str(chunk.end)}
        headers["X-Log-Size"] = str(chunk.size)
        return PlainTextResponse(chunk.text, headers=headers)

    def live(request: Request) -> Response:
        """What a run page polls: the run's status and the current log from `offset` on. When the
        run moved to another stage, the answer names the new log and starts it from its top."""
        try:
            record = record_of(request)
        except MlciError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404, headers=SECURITY_HEADERS)
        lang = lang_of(request)
        ref = logs.current_ref(record)
        offset = _int(request.query_params.get("offset")) or 0
        if ref is None or ref.key != request.query_params.get("key"):
            offset = 0
        chunk = logs.read_chunk(record, ref, offset) if ref else logs.Chunk("", 0, 0, 0, False)
        body = {
            "status": record.status.value,
            "statusLabel": i18n.status_label(lang, record.status.value),
            "active": record.status.active,
            "key": ref.key if ref else None,
            "label": ref.label if ref else None,
            "text": chunk.text,
            "start": chunk.start,
            "end": chunk.end,
            "size": chunk.size,
        }
        return Response(json.dumps(body), media_type="application/json", headers=SECURITY_HEADERS)

    def compare_page(request: Request) -> Response:
        project = request.path_params["project"]
        try:
            left = checked_record(project, request.query_params.get("a") or "")
            right = checked_record(project, request.query_params.get("b") or "")
        except MlciError as exc:
            return not_found(request, str(exc))
        return render(
            request, "compare.html", project=project, left=left, right=right, rows=compare(left.state, right.state)
        )

    async def login(request: Request) -> Response:
        if request.method == "GET":
            return render(request, "login.html", wrong=False)
        form = await request.form()
        if not auth.check_password(str(form.get("password", ""))):
            return render(request, "login.html", status_code=403, wrong=True)
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.set_cookie(COOKIE, auth.new_session(), httponly=True, samesite="strict", path="/")
        return response

    async def logout(request: Request) -> Response:
        form = await request.form()
        if not auth.csrf_ok(session_of(request), form.get("csrf")):  # type: ignore[arg-type]
            return render(
                request, "not_found.html", status_code=403, why=i18n.translate(lang_of(request), "error.csrf")
            )
        response = RedirectResponse("/", status_code=303, headers=SECURITY_HEADERS)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def rerun(request: Request) -> Response:
        form = await request.form()
        sid = session_of(request)
        if sid is None or settings.rerun is None:
            return render(request, "not_found.html", status_code=403, why="log in first")
        if not auth.csrf_ok(sid, form.get("csrf")):  # type: ignore[arg-type]
            return render(
                request, "not_found.html", status_code=403, why=i18n.translate(lang_of(request), "error.csrf")
            )
        try:
            record = await run_in_threadpool(record_of, request)
            queue_id = await run_in_threadpool(settings.rerun, record.project)
        except MlciError as exc:  # Jenkins refused or is down: say so, never with a credential in it
            return render(request, "not_found.html", status_code=502, why=redact(str(exc)))
        target = f"/r/{record.project}/{record.job_id}?queued={int(queue_id)}"
        return RedirectResponse(target, status_code=303, headers=SECURITY_HEADERS)

    def static(request: Request) -> Response:
        name = request.path_params["name"]
        types = {"dashboard.css": "text/css", "live.js": "text/javascript"}
        if name not in types:
            return PlainTextResponse("not found", status_code=404)
        return Response((STATIC / name).read_bytes(), media_type=types[name], headers=SECURITY_HEADERS)

    routes = [
        Route("/", index),
        Route("/p/{project}", project_page),
        Route("/p/{project}/compare", compare_page),
        Route("/r/{project}/{job}", run_page),
        Route("/r/{project}/{job}/log/{key}", log_range),
        Route("/r/{project}/{job}/live", live),
        Route("/r/{project}/{job}/rerun", rerun, methods=["POST"]),
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/static/{name}", static),
    ]
    return Starlette(routes=routes)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except ValueError:
        return None
