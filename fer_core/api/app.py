"""The FastAPI application: ``POST /v1/analyze``, ``GET /v1/models``, ``GET /healthz``; OpenAPI at ``/docs``.

Safe by default: the photo page's size and pixel limits (:mod:`fer_core.inference.images`), a
request without a length or over the limit refused before it is read, nothing kept (uploads
are read into memory, analysed and dropped), an optional bearer token, and every bad input a
4xx with a JSON ``detail`` (an unexpected failure is a 500 with one line, its traceback only
in the server's log). Analyses run in worker threads, at most one per engine of the pool.
"""
from __future__ import annotations

import hmac
import logging
from functools import partial
from typing import Any

import anyio
from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from fer_core.common.version import __version__
from fer_core.api.engines import EnginePool
from fer_core.catalog.model import ModelError, list_models
from fer_core.catalog.model_info import describe
from fer_core.common.memory import return_freed_memory
from fer_core.inference.images import MAX_BYTES, ImageError, read_image
from fer_core.inference.infer import analyse_image
from fer_core.inference.baseline_file import parse_baseline
from fer_core.inference.neutral_baseline import BaselineError

log = logging.getLogger("fer_core.api")

#: The environment variable holding the bearer token the /v1 routes require (unset or empty: no token).
TOKEN_ENV = "FER_API_TOKEN"
#: A neutral-baseline file is a small JSON document.
MAX_BASELINE_BYTES = 1 << 20
#: The largest request body: an image at the app's limit, a baseline, and the multipart framing.
MAX_REQUEST_BYTES = MAX_BYTES + MAX_BASELINE_BYTES + (64 << 10)
#: Images larger than this (decoded bytes) give their freed heap back to the OS after the request.
TRIM_AFTER_BYTES = 16 << 20


class AnalyzeResponse(BaseModel):
    """The faces found in one image (largest first), each as ``Face.to_dict()`` writes it (``predict --json``)."""

    model: str
    weights_sha256: str
    vs_neutral: bool
    width: int
    height: int
    faces: list[dict[str, Any]]


class LimitRequestSize:
    """ASGI middleware: a POST without a Content-Length gets 411 and one over ``limit`` bytes 413, unread."""

    def __init__(self, app, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            length = dict(scope["headers"]).get(b"content-length")
            status, detail = None, None
            if length is None or not length.isdigit():
                status, detail = 411, "send the request with a Content-Length header"
            elif int(length) > self.limit:
                status, detail = 413, (f"the request is {int(length) / 2**20:.1f} MB; the limit is "
                                       f"{self.limit / 2**20:.0f} MB (an image up to {MAX_BYTES // 2**20} MB)")
            if status:
                await JSONResponse({"detail": detail}, status_code=status)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(pool: EnginePool, token: str | None = None) -> FastAPI:
    """The API over ``pool``; with a ``token``, the /v1 routes require ``Authorization: Bearer <token>``."""
    app = FastAPI(title="FER Studio API", version=__version__,
                  description="Facial emotion recognition: the faces in a photo, their emotions and scores.")
    app.add_middleware(LimitRequestSize, limit=MAX_REQUEST_BYTES)
    bearer = HTTPBearer(auto_error=False, description=f"required when the server's ${TOKEN_ENV} is set")
    limiter: list[anyio.CapacityLimiter] = []  # made in the event loop, on the first request

    def authorised(credentials: HTTPAuthorizationCredentials | None = Depends(bearer)) -> None:
        if not token:
            return
        given = credentials.credentials.encode() if credentials else b""
        if not hmac.compare_digest(given, token.encode()):
            raise HTTPException(401, "a valid bearer token is required (Authorization: Bearer <token>)",
                                headers={"WWW-Authenticate": "Bearer"})

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"detail": problems or "invalid request"}, status_code=422)

    @app.exception_handler(Exception)
    async def failed(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected failure on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error; the server's log has the details"}, status_code=500)

    @app.get("/healthz", summary="Liveness: the model is loaded and the server answers")
    def healthz() -> dict:
        return {"status": "ok", "model": pool.name}

    @app.get("/v1/models", dependencies=[Depends(authorised)], summary="The model this server runs, and those installed")
    def models() -> dict:
        return {"served": served(pool), "installed": installed()}

    @app.post("/v1/analyze", dependencies=[Depends(authorised)], response_model=AnalyzeResponse,
              summary="The faces in an image, with their emotion scores",
              responses={401: {"description": "missing or wrong bearer token"},
                         411: {"description": "no Content-Length"},
                         413: {"description": f"an image over {MAX_BYTES // 2**20} MB"},
                         422: {"description": "not an image, corrupt, too many pixels, or a bad baseline file"}})
    async def analyze(
        image: UploadFile = File(description="a photo: JPEG, PNG, WebP, BMP or TIFF"),
        baseline: UploadFile | None = File(None, description="optional: a neutral-baseline (calibration) file "
                                                             "made with this model (`predict --save-calibration`)"),
        aligned: bool = Form(False, description="the image is one face crop already (FER2013-style): no detection"),
    ) -> dict:
        data = await _read(image, MAX_BYTES, "image")
        reference = await _read(baseline, MAX_BASELINE_BYTES, "baseline") if baseline is not None else None
        if not limiter:
            limiter.append(anyio.CapacityLimiter(pool.workers))
        return await anyio.to_thread.run_sync(partial(_analyse, pool, data, reference, aligned), limiter=limiter[0])

    return app


async def _read(upload: UploadFile, limit: int, field: str) -> bytes:
    """An upload's bytes, refused with a 413 past ``limit`` (read no further than that)."""
    data = await upload.read(limit + 1)
    if len(data) > limit:
        raise HTTPException(413, f"{field}: larger than {limit / 2**20:.0f} MB; resize or recompress it")
    return data


def _analyse(pool: EnginePool, data: bytes, reference: bytes | None, aligned: bool) -> dict:
    """Decode, analyse, answer (in a worker thread, on an engine no other request holds)."""
    try:
        rgb = read_image(data, name="image")
        baseline = parse_baseline(reference, "baseline") if reference is not None else None
        with pool.engine() as engine:
            if baseline is not None:
                baseline.check_classifier(engine.classifier)
            faces = analyse_image(rgb, engine.classifier, engine.detector, aligned=aligned, baseline=baseline)
    except (ImageError, BaselineError) as exc:  # the input's fault, said in one line
        raise HTTPException(422, str(exc)) from None
    height, width = rgb.shape[:2]
    if rgb.nbytes > TRIM_AFTER_BYTES:
        del rgb
        return_freed_memory()
    return {"model": pool.name, "weights_sha256": pool.weights_sha256, "vs_neutral": baseline is not None,
            "width": width, "height": height, "faces": [face.to_dict() for face in faces]}


def served(pool: EnginePool) -> dict:
    return {"name": pool.name, "folder": pool.folder.name, "members": pool.members, "labels": list(pool.labels),
            "weights_sha256": pool.weights_sha256, "runtime": pool.runtime, "detector": pool.detector,
            "workers": pool.workers}


def installed() -> list[dict]:
    """The model folders beside the served one (another is served by another ``fer-studio serve --model``)."""
    found = []
    for folder in list_models():
        try:
            info = describe(folder)
        except ModelError:
            continue
        found.append({"name": info.name, "folder": folder.name, "display_name": info.display_name,
                      "purpose": info.purpose, "architecture": info.architecture, "accuracy": info.accuracy})
    return found
