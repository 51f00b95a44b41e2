"""The playground's web server: the page, a JSON API over the sessions, and a live event stream.

    GET    /                                  the page (static files shipped in the package)
    POST   /api/sessions                      a new session from `Settings` → id, structure, frame
    PUT    /api/sessions/{id}/settings        new settings (a fresh network)
    POST   /api/sessions/{id}/reset           the same settings, the initial weights again
    POST   /api/sessions/{id}/data            upload a CSV (the raw text as the body)
    POST   /api/sessions/{id}/run             {"running": true|false, "speed": steps/s or null}: Train / Pause
    POST   /api/sessions/{id}/step            one iteration in three phases, for one example
    GET    /api/sessions/{id}/neuron          z, a, σ'(z), δ of a neuron (from `chainrule.explain`)
    GET    /api/sessions/{id}/weight          the chain rule of a weight (`chainrule.explain`)
    GET    /api/sessions/{id}/state           the network's config, weights and data
    GET    /api/sessions/{id}/model           the network as a model file (`chainrule.io.save`)
    GET    /api/sessions/{id}/events          server-sent events: frames while the session trains
    DELETE /api/sessions/{id}                 free the session (also POST /api/sessions/{id}/close,
                                              the beacon a page sends when its tab closes)

A session trains only while its page's event stream is open, so a closed tab stops its
training. Request bodies are limited to ``MAX_BODY`` bytes; bad input gets a 4xx whose
``detail`` is one readable sentence.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from importlib.resources import files
from typing import Annotated, Any

import anyio
from fastapi import FastAPI, HTTPException, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chainrule.playground.data import parse_csv
from chainrule.playground.session import Session, Sessions
from chainrule.playground.settings import MAX_NEURONS, MAX_SAMPLES, Run, Settings, Step

STATIC = files("chainrule.playground") / "static"
MAX_BODY = 256 * 1024  # bytes: settings are tiny, a CSV of MAX_SAMPLES rows fits easily
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")
TRAIN_SLICE = 0.1  # seconds of training between two frames of the event stream
KEEP_ALIVE = 10.0  # seconds between comments on an idle event stream
PAGE_HEADERS = {  # the page runs only its own files: no inline script, nothing from elsewhere
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

SessionId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{8,64}$")]
Level = Annotated[int, Query()]  # checked against the session's network (Session._layer)
Index = Annotated[int, Query(ge=0, lt=max(MAX_NEURONS, 10))]
Sample = Annotated[int, Query(ge=0, lt=MAX_SAMPLES)]


def clean(value: Any) -> Any:
    """JSON-ready data with every NaN or infinity replaced by None (JSON has neither)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [clean(v) for v in value]
    return value


class CleanJSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return super().render(clean(content))


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets 413, by its Content-Length or
    while it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        message = (
            f"the request body is over {self.limit // 1024} KiB: send less "
            f"(a CSV of at most {MAX_SAMPLES} rows)"
        )
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await JSONResponse({"detail": message}, status_code=413)(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            msg = await receive()
            received += len(msg.get("body", b""))
            if received > self.limit:
                raise HTTPException(413, message)
            return msg

        await self.app(scope, limited, send)


@contextmanager
def bad_input() -> Iterator[None]:
    """A ValueError from the library or the data (a bad CSV, an impossible setup) is a 422."""
    try:
        yield
    except ValueError as e:
        raise HTTPException(422, str(e)) from None


FIELD_NAMES = {
    "data": "data set",
    "classes": "classes",
    "samples": "samples",
    "noise": "noise",
    "test_fraction": "test fraction",
    "hidden": "hidden layers",
    "activation": "activation",
    "loss": "loss",
    "optimizer": "optimiser",
    "lr": "learning rate η",
    "batch_size": "batch size",
    "l2": "L2 λ",
    "l1": "L1 λ",
    "dropout": "dropout",
    "seed": "seed",
    "features": "input features",
    "running": "running",
    "speed": "speed",
    "sample": "example",
    "level": "layer",
    "i": "neuron i",
    "j": "neuron j",
    "sid": "session",
}


def _where(loc: Sequence[Any]) -> str:
    """``("body", "hidden", 1)`` → "hidden layer 2": a field as the page's label names it."""
    parts = [p for p in loc if p not in ("body", "query", "path")]
    if not parts:
        return ""
    name = FIELD_NAMES.get(str(parts[0]), str(parts[0]))
    if len(parts) > 1 and isinstance(parts[1], int):
        k = parts[1] + 1
        if parts[0] == "hidden":
            return f"hidden layer {k}"
        if parts[0] == "activation":
            return f"the activation of hidden layer {k}"
        if parts[0] == "features":
            return f"input feature {k}"
        return f"{name} {k}"
    return name


def _plain(err: dict[str, Any]) -> str:
    """One validation error as a sentence a newcomer can act on."""
    kind, ctx, where = err["type"], err.get("ctx") or {}, _where(err["loc"])
    if kind == "json_invalid":
        return "the request body is not valid JSON"
    if kind == "extra_forbidden":
        return f"{where!r} is not a setting of the playground"
    if kind == "string_pattern_mismatch" and where == "session":
        return "this page's session is missing or malformed: reload the page"
    if where.startswith("hidden layer ") and kind in ("less_than_equal", "greater_than_equal"):
        return f"{where} must have 1 to {MAX_NEURONS} neurons"
    if kind == "too_short" and where == "input features":
        return "input features: choose at least one"
    if kind == "too_long":
        n = ctx.get("max_length")
        return (
            f"at most {n} hidden layers"
            if where in ("hidden layers", "activation")
            else f"{where}: at most {n}"
        )
    bounds = {"less_than_equal": "at most", "less_than": "below", "greater_than_equal": "at least"}
    bounds["greater_than"] = "greater than"
    key = {"less_than_equal": "le", "less_than": "lt", "greater_than_equal": "ge", "greater_than": "gt"}
    if kind in bounds and isinstance(ctx.get(key[kind]), int | float):
        return f"{where} must be {bounds[kind]} {ctx[key[kind]]:g}"
    text = {
        "int_parsing": "must be a whole number",
        "int_type": "must be a whole number",
        "int_from_float": "must be a whole number",
        "float_parsing": "must be a number",
        "float_type": "must be a number",
        "finite_number": "must be a finite number",
        "missing": "is missing",
        "bool_parsing": "must be true or false",
        "literal_error": f"must be one of {ctx.get('expected', '').replace(chr(39), '')}",
    }.get(kind)
    if text is None:  # a model validator's sentence, or a rarer type: pydantic's own words
        text = err["msg"].removeprefix("Value error, ")
        return f"{where}: {text}" if where else text
    return f"{where} {text}" if where else text


def _readable(exc: RequestValidationError) -> str:
    return "; ".join(dict.fromkeys(_plain(err) for err in exc.errors()))


def create_app(*, max_sessions: int = 32, allowed_hosts: Sequence[str] | None = LOOPBACK) -> FastAPI:
    """The playground as an ASGI app. ``allowed_hosts`` are the Host headers it answers (the
    loopback names by default, which also stops DNS-rebinding pages); None answers any."""
    app = FastAPI(
        title="chainrule playground",
        docs_url=None,  # the interactive docs load scripts from the internet
        redoc_url=None,
        openapi_url=None,
        default_response_class=CleanJSON,
    )
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(BodyLimit, limit=MAX_BODY)
    sessions = app.state.sessions = Sessions(max_sessions)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(exc)}, status_code=422)

    def session(sid: str) -> Session:
        try:
            return sessions.get(sid)
        except KeyError:
            raise HTTPException(404, "this session has expired or never existed: reload the page") from None

    def setup(s: Session) -> dict[str, Any]:
        return {"structure": s.structure(), "frame": s.frame()}

    @app.get("/", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store", **PAGE_HEADERS})

    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")

    @app.post("/api/sessions", status_code=201)
    def new_session(settings: Settings) -> dict[str, Any]:
        with bad_input():
            s = Session(settings)
        return {"id": sessions.add(s), **setup(s)}

    @app.delete("/api/sessions/{sid}", status_code=204)
    def close(sid: SessionId) -> Response:
        sessions.remove(sid)
        return Response(status_code=204)

    @app.post("/api/sessions/{sid}/close", status_code=204)
    async def close_beacon(sid: SessionId, request: Request) -> Response:
        """The page's pagehide beacon (``navigator.sendBeacon`` can only POST): DELETE by another
        verb. The body, if any, is ignored but read, within the body limit."""
        await request.body()
        sessions.remove(sid)
        return Response(status_code=204)

    @app.put("/api/sessions/{sid}/settings")
    def change(sid: SessionId, settings: Settings) -> dict[str, Any]:
        s = session(sid)
        with bad_input():
            s.setup(settings)
        return setup(s)

    @app.post("/api/sessions/{sid}/reset")
    def reset(sid: SessionId) -> dict[str, Any]:
        s = session(sid)
        with bad_input():
            s.setup(s.settings)
        return setup(s)

    @app.post("/api/sessions/{sid}/data")
    async def upload(sid: SessionId, request: Request) -> dict[str, Any]:
        s = session(sid)
        raw = await request.body()
        with bad_input():
            table = parse_csv(raw)
            losses = (
                ("squared_error",)
                if table.task == "regression"
                else ("cross_entropy", "binary_cross_entropy")
            )
            loss = s.settings.loss if s.settings.loss in losses else losses[0]
            n_classes = len(set(table.labels)) if table.task == "classification" else 2
            if loss == "binary_cross_entropy" and n_classes != 2:
                loss = "cross_entropy"
            settings = Settings(**{**s.settings.model_dump(), "data": "csv", "loss": loss, "classes": 2})
            await anyio.to_thread.run_sync(s.setup, settings, table)
        return setup(s)

    @app.post("/api/sessions/{sid}/run")
    def run(sid: SessionId, body: Run) -> dict[str, Any]:
        s = session(sid)
        with bad_input():
            s.set_running(body.running, body.speed)
        return {"running": s.running, "speed": s.speed}

    @app.post("/api/sessions/{sid}/step")
    def step(sid: SessionId, body: Step) -> dict[str, Any]:
        with bad_input():
            return session(sid).step(body.sample)

    @app.get("/api/sessions/{sid}/neuron")
    def neuron(sid: SessionId, level: Level, j: Index, sample: Sample = 0) -> dict[str, Any]:
        with bad_input():
            return session(sid).neuron(level, j, sample)

    @app.get("/api/sessions/{sid}/weight")
    def weight(sid: SessionId, level: Level, i: Index, j: Index, sample: Sample = 0) -> dict[str, Any]:
        with bad_input():
            return session(sid).weight(level, i, j, sample)

    @app.get("/api/sessions/{sid}/state")
    def state(sid: SessionId) -> dict[str, Any]:
        return session(sid).state()

    @app.get("/api/sessions/{sid}/model")
    def model(sid: SessionId) -> Response:
        s = session(sid)
        name = f"chainrule-playground-{s.settings.data}.safetensors"
        with bad_input():  # a model file that cannot be written is a message, never a 500
            content = s.model_file()
        return Response(
            content,
            media_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @app.get("/api/sessions/{sid}/events")
    def events(sid: SessionId) -> StreamingResponse:
        return StreamingResponse(
            _frames(session(sid)),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store"},
        )

    return app


async def _frames(session: Session) -> AsyncIterator[str]:
    """Server-sent events: while the session runs, train for a slice and send a frame. Only the
    newest stream of a session trains; it ends when the page goes (the request is cancelled)."""
    session.watcher += 1
    me = session.watcher
    yield "retry: 1000\n\n"
    quiet = 0.0
    while session.watcher == me:
        if session.running:
            began = time.perf_counter()
            frame = await anyio.to_thread.run_sync(session.train_for, TRAIN_SLICE)
            yield f"data: {json.dumps(clean(frame))}\n\n"
            quiet = 0.0
            if session.speed is not None:  # at a pace: a frame per slice, not as fast as possible
                await anyio.sleep(max(0.0, TRAIN_SLICE - (time.perf_counter() - began)))
        else:
            await anyio.sleep(0.05)
            quiet += 0.05
            if quiet >= KEEP_ALIVE:
                yield ": idle\n\n"
                quiet = 0.0
