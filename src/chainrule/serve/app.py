"""The ASGI app of ``chainrule serve``: the practice page and the grading API.

Routes:

- ``GET /``: the page (task, editor with the starter of ``chainrule exercise init``, Check);
  ``GET /static/app.js`` and ``/static/app.css``: its script and style, package files.
- ``POST /api/check`` with ``{"code": "..."}``: the JSON of ``chainrule check --json`` (its
  ``graph``, the learner's example graph, is set when every required check passes), plus two
  keys for the page: ``graph_svg`` (the drawing, or ``null``) and ``graph_text``. 413 over
  64 KiB, 400 for malformed JSON or a missing or non-string ``code``, 415 for a body that is
  not ``application/json``, 503 with ``Retry-After`` when every grader is busy and the queue
  is full. Errors are ``{"error": "one line"}``.
- ``GET /healthz``: ``{"status": "ok", ...pool counts}``.

What the learner sends or prints is data, never markup: the page builds the report with
``textContent`` and shows the graph's SVG through ``<img>``; the Content-Security-Policy allows
only this server's own script and style files (no inline script, no eval). The JSON body is
required to be ``application/json``, so another web site cannot post code to a local server
from a learner's browser without a CORS preflight, which this server never grants. No path
from a request reaches the file system: the static files are a fixed table read at start-up.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import threading
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainrule.serve import graph as graph_module
from chainrule.serve.pool import Busy, GraderPool

__all__ = ["MAX_BODY", "create_app"]

MAX_BODY = 64 * 1024
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]
_STATIC = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}

Grade = Callable[[str, threading.Event], dict[str, Any]]


class _SecurityHeaders:
    """Adds the CSP and friends to every HTTP response, errors and 404s included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": reason}, status_code=status, headers=headers)


async def _read_code(request: Request) -> str:
    """The ``code`` string of the request's JSON body; raises _BadRequest with the reason."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise _BadRequest(415, 'send the body as JSON with "Content-Type: application/json"')
    length = request.headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise _BadRequest(400, "malformed Content-Length header")
        if int(length) > MAX_BODY:
            raise _BadRequest(413, f"the body is over {MAX_BODY // 1024} KiB")
    body = bytearray()
    async for chunk in request.stream():  # counted as it arrives: a chunked body is capped too
        body += chunk
        if len(body) > MAX_BODY:
            raise _BadRequest(413, f"the body is over {MAX_BODY // 1024} KiB")
    try:
        payload = json.loads(bytes(body).decode("utf-8"))
    except UnicodeDecodeError:
        raise _BadRequest(400, "malformed JSON: the body is not UTF-8") from None
    except json.JSONDecodeError as e:
        reason = f"malformed JSON: {e.msg} at line {e.lineno} column {e.colno}"
        raise _BadRequest(400, reason) from None
    except RecursionError:
        raise _BadRequest(400, "malformed JSON: nested too deeply") from None
    if not isinstance(payload, dict):
        raise _BadRequest(400, 'the body must be a JSON object: {"code": "..."}')
    if "code" not in payload:
        raise _BadRequest(400, 'missing "code": send {"code": "<your solution.py>"}')
    code = payload["code"]
    if not isinstance(code, str):
        raise _BadRequest(400, f'"code" must be a string, not {_json_type(code)}')
    return code


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "an array"}
    names.update({dict: "an object", type(None): "null"})
    return names.get(type(value), "a " + type(value).__name__)


async def _wait_for_disconnect(receive: Receive) -> None:
    # Once the body is read, the next message the server sends is http.disconnect: the client
    # went away (or the response was sent, by which time nobody waits on this).
    while (await receive())["type"] != "http.disconnect":
        pass


def _attach_graph(report: dict[str, Any]) -> dict[str, Any]:
    """Draw the report's graph (the grader exported and validated it; it is checked once more,
    since ``grade`` may be any callable); runs in a thread (dot is a process)."""
    graph = graph_module.sanitize(report.get("graph")) if report.get("passed") else None
    report["graph"] = graph
    report["graph_svg"] = graph_module.render_svg(graph) if graph else None
    report["graph_text"] = graph_module.render_text(graph) if graph else None
    return report


def _page() -> str:
    from chainrule.exercise.starter import SOLUTION_TEMPLATE

    template = resources.files("chainrule.serve").joinpath("static/index.html").read_text()
    # The starter is our own constant; it is still escaped, as text inside <textarea>.
    return template.replace("{{starter}}", html.escape(SOLUTION_TEMPLATE, quote=False))


def create_app(
    *,
    workers: int | None = None,
    queue_size: int | None = None,
    timeout: float = 10.0,
    memory_mb: int = 1024,
    grade: Grade | None = None,
    allowed_hosts: list[str] | None = None,
    namespaces: bool | None = None,
) -> Starlette:
    """The Starlette app; ``uvicorn.run(create_app(), ...)`` serves it.

    Args:
        workers: at most this many gradings run at once (default: the number of CPU cores).
        queue_size: at most this many more wait for a grader (default: 64, or 4 per worker
            if that is more: a classroom's worth, so that a closed loop of learners is served
            first come, first served); beyond that, submissions get 503 with Retry-After.
        timeout: seconds per check, as ``chainrule check --timeout``.
        memory_mb: the sandbox's memory limit, as ``chainrule check --memory``.
        grade: ``grade(code, cancel_event) -> report dict``; the sandboxed grader by default
            (tests pass their own).
        allowed_hosts: accepted ``Host`` headers (guards a loopback server against DNS
            rebinding); any host when None.
        namespaces: passed to the grader: True requires bubblewrap (``chainrule serve`` passes
            True where it works), False does without, None uses it where it works.
    """
    workers = workers or os.cpu_count() or 1
    queue_size = max(64, 4 * workers) if queue_size is None else queue_size
    if grade is None:
        from chainrule.serve.grading import grade_code

        def grade(code: str, cancel: threading.Event) -> dict[str, Any]:
            return grade_code(
                code, timeout=timeout, memory_mb=memory_mb, cancel=cancel, namespaces=namespaces
            )

    page = _page()
    static = {
        name: resources.files("chainrule.serve").joinpath(f"static/{name}").read_bytes()
        for name in _STATIC
    }
    state: dict[str, GraderPool] = {}

    def pool() -> GraderPool:
        if "pool" not in state:  # created in the server's event loop, on first use
            state["pool"] = GraderPool(grade, workers, queue_size)
        return state["pool"]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        pool()
        yield
        state.pop("pool").close()

    async def index(request: Request) -> Response:
        return HTMLResponse(page)

    def static_file(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def serve(request: Request) -> Response:
            return Response(static[name], media_type=_STATIC[name])

        return serve

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok", **pool().stats()})

    async def check(request: Request) -> Response:
        try:
            code = await _read_code(request)
        except _BadRequest as e:
            return _error(e.status, e.reason)
        grading = asyncio.ensure_future(pool().submit_timed(code))
        gone = asyncio.ensure_future(_wait_for_disconnect(request.receive))
        await asyncio.wait({grading, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not grading.done():  # the client disconnected: stop its grader
            grading.cancel()
            await asyncio.gather(grading, return_exceptions=True)
            return _error(499, "client closed the request")
        gone.cancel()
        try:
            report, waited, graded = grading.result()
        except Busy as e:
            msg = f"every grader is busy; retry in {e.retry_after} s"
            return _error(503, msg, {"Retry-After": str(e.retry_after)})
        except Exception as e:  # the grader's own failure, not the learner's: say so
            return _error(500, f"the grader failed: {type(e).__name__}")
        report = await asyncio.to_thread(_attach_graph, report)
        # Where the time went, for load tests and browser dev tools (milliseconds).
        timing = f"queue;dur={waited * 1000:.0f}, grade;dur={graded * 1000:.0f}"
        return JSONResponse(report, headers={"Server-Timing": timing})

    routes = [
        Route("/", index, methods=["GET"]),
        *(Route(f"/static/{name}", static_file(name), methods=["GET"]) for name in _STATIC),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/favicon.ico", lambda request: Response(status_code=204), methods=["GET"]),
        Route("/api/check", check, methods=["POST"]),
    ]
    middleware = [Middleware(_SecurityHeaders)]
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
