"""The FastAPI app: /predict, /search, /caption, /generate, /health, /info, the web page at /.

    app = create_app(["runs/emoji", "indexes/emoji"], runtime="onnx")
    uvicorn.run(app, host="127.0.0.1", port=8000)     # or: polymodal serve runs/emoji indexes/emoji

Every endpoint that acts on a run takes `?run=NAME` (the folder's name; /info lists them), which may
be left out when one run of the needed kind is served. Errors are `{"detail": "..."}` with 400 (a run
of another kind), 401 (no API key), 403 (a wrong one), 404 (unknown run or row), 413 (too large), 415 (wrong
content type), 422 (bad or unreadable input), 429 (over the rate limit) or 504 (over the time limit).
"""

from __future__ import annotations

import mimetypes
from importlib import resources
from typing import Annotated

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import PolymodalError
from . import generative, openapi
from .access import ApiKeys, RateLimit, parse_rate
from .errors import ApiError, bad_input, not_found, wrong_type
from .limits import BodyLimit, BodyTooLarge, within
from .openapi import FILE, errors, form_body
from .predict import PredictService
from .schemas import CaptionResponse, HealthResponse, InfoResponse, PredictResponse, RunInfo, SearchResponse
from .search import MAX_K
from .targets import ENDPOINTS, Served, load_served
from .uploads import UploadFolder

FORM_ERRORS = errors(400, 404, 413, 415, 422, 504)  # what an endpoint reading a form may answer
FORM_TYPES = ("multipart/form-data", "application/x-www-form-urlencoded")


class GenerateRequest(BaseModel):
    prompt: str = Field(description="what to generate", examples=["a small red circle"],
                        json_schema_extra={"maxLength": generative.MAX_PROMPT_CHARS})
    n: int = Field(1, description="samples for the prompt",
                   json_schema_extra={"minimum": 1, "maximum": generative.MAX_SAMPLES})
    seed: int = Field(0, description="same seed, same samples",
                      json_schema_extra={"minimum": 0, "maximum": generative.MAX_SEED})


class Settings:
    def __init__(self, runtime: str, max_upload_mb: float, timeout_s: float):
        self.runtime, self.max_bytes, self.timeout_s = runtime, int(max_upload_mb * 1e6), timeout_s


def create_app(targets: list, *, runtime: str = "torch", max_upload_mb: float = 20.0, timeout_s: float = 30.0,
               batching: bool = False, max_batch: int = 32, batch_workers: int = 2, warm_up: bool = True,
               api_keys: tuple[str, ...] = (), rate_limit: str | None = None,
               cors_origins: tuple[str, ...] = ()) -> FastAPI:
    """An app serving each run directory or index folder in `targets` (see the module docstring).

    `api_keys`: when given, every endpoint but /health (and the web page's shell) needs one of them;
    `rate_limit`: e.g. "30/minute" per client address; `cors_origins`: web origins allowed to call it from a
    browser (none by default). serve/access.py has the details.

    `batching` groups concurrent /predict requests (serve/batcher.py). It is off by default because it
    did not pay on a 2-core CPU with ONNX Runtime encoders: more CPU time per request, not less
    (BENCHMARKS.md, "Serving"); it may pay for models whose per-call cost is high (PyTorch eager)."""
    settings = Settings(runtime, max_upload_mb, timeout_s)
    if rate_limit is not None:
        parse_rate(rate_limit)  # a bad value is named before any run loads
    served = load_served(targets)
    for s in served.values():
        if s.kind == "predictor":
            s.service = PredictService(s.obj, runtime=runtime, batching=batching, max_batch=max_batch,
                                       batch_workers=batch_workers)
            if warm_up:
                s.service.warm_up()
    app = FastAPI(title="polymodal", version=__version__, description="Multimodal models served by polymodal.")
    app.state.served, app.state.settings = served, settings
    # the whole body may hold a few files of max_upload_mb plus form fields
    app.add_middleware(BodyLimit, limit=settings.max_bytes * generative.MAX_FILES + (1 << 20))
    # Starlette runs the last added outermost: CORS answers preflights, the rate limit throttles key guessing too
    if api_keys:
        app.add_middleware(ApiKeys, keys=tuple(api_keys))
    if rate_limit is not None:
        app.add_middleware(RateLimit, rate=rate_limit)
    if cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.state.access = {"api_keys": len(api_keys), "rate_limit": rate_limit, "cors_origins": list(cors_origins)}
    _handlers(app)
    _routes(app, served, settings)
    openapi.install(app, served, keys=bool(api_keys), rate_limit=rate_limit is not None)
    static = resources.files("polymodal.serve") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    return app


def _handlers(app: FastAPI) -> None:
    def detail(status: int, message: str) -> JSONResponse:
        return JSONResponse({"detail": message}, status_code=status)

    app.add_exception_handler(ApiError, lambda _, e: detail(e.status, e.message))
    app.add_exception_handler(BodyTooLarge, lambda _, e: detail(413, str(e)))
    app.add_exception_handler(PolymodalError, lambda _, e: detail(422, str(e)))  # the run rejected the input

    def invalid(_, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e['loc'][1:]) or e['loc'][0]}: {e['msg']}" for e in exc.errors()]
        return detail(422, "; ".join(parts))

    app.add_exception_handler(RequestValidationError, invalid)


def pick(served: dict[str, Served], run: str | None, kind: str) -> Served:
    """The run named `run`, or the only one of `kind`; 404/400/422 naming what is served."""
    if run is not None:
        if run not in served:
            raise not_found(f"unknown run {run!r}; served: {', '.join(served) or 'none'}")
        if served[run].kind != kind:
            raise ApiError(400, f"run {run!r} is a {served[run].kind}; {ENDPOINTS[kind]} serves {kind} runs "
                                f"(use {served[run].endpoint} for it)")
        return served[run]
    of_kind = [s for s in served.values() if s.kind == kind]
    if not of_kind:
        raise not_found(f"no {kind} run is served here; served: "
                        + ", ".join(f"{s.name} ({s.kind})" for s in served.values()))
    if len(of_kind) > 1:
        raise bad_input(f"several {kind} runs are served; choose one with ?run=NAME: "
                        + ", ".join(s.name for s in of_kind))
    return of_kind[0]


async def read_form(request: Request):
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in FORM_TYPES:
        raise wrong_type(f"send the inputs as multipart/form-data (got content type {kind or 'none'!r})")
    return await request.form(max_files=generative.MAX_FILES, max_fields=256)


def run_info(s: Served, runtime: str) -> RunInfo:
    info = RunInfo(name=s.name, kind=s.kind, path=str(s.path), endpoint=s.endpoint)
    if s.kind == "predictor":
        p = s.obj
        info.fields, info.runtime = s.service.fields(), runtime
        info.labels = {k: [str(c) for c in v] for k, v in s.service.labels().items()}
        info.schema_ = {c.name: c.role for c in p.schema_.columns}
        info.metrics = {k: v for k, v in getattr(p, "metrics_", {}).items() if k in ("task", "monitor", "best",
                                                                                     "val", "test", "splits")}
    elif s.kind == "index":
        svc = s.obj
        info.query_roles, info.rows = svc.query_roles, len(svc.index)
        info.schema_ = dict(svc.aligner.schema_.modalities)
        info.metrics = {"indexed_column": svc.column, "indexed_role": svc.role, "run": svc.index.meta.get("run")}
    else:
        info.metrics = {k: v for k, v in (getattr(s.obj, "metrics_", None) or {}).items()
                        if not isinstance(v, list | dict)}
    return info


def _routes(app: FastAPI, served: dict[str, Served], settings: Settings) -> None:
    @app.get("/", include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((resources.files("polymodal.serve") / "static" / "index.html").read_text())

    @app.get("/health", response_model=HealthResponse)
    def health() -> HealthResponse:
        return HealthResponse(status="ok", runs=list(served))

    @app.get("/info", response_model=InfoResponse, response_model_by_alias=True)
    def info() -> InfoResponse:
        return InfoResponse(version=__version__, runs=[run_info(s, settings.runtime) for s in served.values()],
                            limits={"max_upload_mb": settings.max_bytes / 1e6, "timeout_s": settings.timeout_s})

    predictors = sum(s.kind == "predictor" for s in served.values())

    @app.post("/predict", response_model=PredictResponse, responses=FORM_ERRORS, openapi_extra=form_body(
        "One row: a file field per image/audio column, a value field per text/number/category column "
        "(GET /info lists them per run). Fields left out are missing modalities.",
        openapi.predictor_fields(served), closed=predictors == 1, minProperties=1))
    async def predict(request: Request, run: Annotated[str | None, Query()] = None) -> PredictResponse:
        target = pick(served, run, "predictor")
        form = await read_form(request)
        with UploadFolder() as folder:
            cells = await target.service.parse(form, folder, settings.max_bytes)
            predictions = await within(settings.timeout_s, target.service.predict(cells))
        return PredictResponse(run=target.name, predictions=predictions, used=sorted(cells), runtime=settings.runtime)

    @app.post("/search", response_model=SearchResponse, responses=FORM_ERRORS, openapi_extra=form_body(
        "Exactly one query: a 'text' field, or an 'image' or 'audio' file; 'k' hits (default 10).",
        {"text": {"type": "string"}, "image": FILE, "audio": FILE,
         "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "default": 10}},
        oneOf=[{"required": [role]} for role in ("text", "image", "audio")]))
    async def search(request: Request, run: Annotated[str | None, Query()] = None) -> SearchResponse:
        target = pick(served, run, "index")
        form = await read_form(request)
        k = _int(form.get("k", "10"), "k")
        given = [r for r in ("text", "image", "audio") if form.get(r) not in (None, "")]
        if len(given) != 1:
            raise bad_input("give exactly one query: a 'text' field, or an 'image' or 'audio' file"
                            + (f" (got {', '.join(given)})" if given else ""))
        role = given[0]
        with UploadFolder() as folder:
            value = form.get(role)
            if role == "text":
                if not isinstance(value, str) or not value.strip():
                    raise bad_input("field 'text': the query text is empty")
                cell = value.strip()
            else:
                if isinstance(value, str):
                    raise bad_input(f"field {role!r} must be an uploaded file")
                cell = await folder.save(role, role, value, settings.max_bytes)
            from starlette.concurrency import run_in_threadpool

            hits = await within(settings.timeout_s, run_in_threadpool(target.obj.search, role, cell, k))
        return SearchResponse(run=target.name, query=role, hits=hits)

    @app.get("/media/{run}/{row}", response_class=FileResponse, responses={
        **errors(400, 404, 422), 200: {"content": {t: {"schema": FILE} for t in openapi.MEDIA_TYPES}}})
    def media(run: str, row: int) -> FileResponse:
        """The file of a row of a served index (search hits link here): never a path from the client."""
        path = pick(served, run, "index").obj.media(row)
        # Starlette's fallback for an extension it does not know is text/plain, which a file is not
        return FileResponse(path, media_type=mimetypes.guess_type(path.name)[0] or "application/octet-stream")

    @app.post("/caption", response_model=CaptionResponse, responses=FORM_ERRORS, openapi_extra=form_body(
        "One or more image (or audio) files in the field 'file'; optional 'beam_size' (default 3).",
        {"file": {"type": "array", "items": FILE, "minItems": 1, "maxItems": generative.MAX_FILES},
         "beam_size": {"type": "integer", "minimum": 1, "maximum": generative.MAX_BEAM, "default": 3}},
        required=["file"]))
    async def caption(request: Request, run: Annotated[str | None, Query()] = None) -> CaptionResponse:
        target = pick(served, run, "captioner")
        form = await read_form(request)
        beam = _int(form.get("beam_size", "3"), "beam_size")
        with UploadFolder() as folder:
            captions = await within(settings.timeout_s, generative.caption(
                target.obj, form.getlist("file"), folder, settings.max_bytes, beam))
        return CaptionResponse(run=target.name, captions=captions)

    @app.post("/generate", response_class=Response, responses={**errors(400, 404, 413, 422, 504), 200: {
        "content": {t: {"schema": FILE} for t in ("image/png", "audio/wav", "image/gif")}}})
    async def generate(body: GenerateRequest, run: Annotated[str | None, Query()] = None) -> Response:
        """PNG (a grid of images), WAV (the samples one after another) or GIF, as the run generates."""
        target = pick(served, run, "generator")
        data, media_type = await within(settings.timeout_s, generative.generate(target.obj, body.prompt, body.n,
                                                                                body.seed))
        return Response(content=data, media_type=media_type)


def _int(value, name: str) -> int:
    try:
        return int(str(value).strip())
    except ValueError:
        raise bad_input(f"field {name!r} must be a whole number, got {str(value)[:50]!r}") from None
