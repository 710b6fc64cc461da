"""The app's HTTP routes (Starlette), behind a token that every request must carry.

Coordinates at the API are particle centres in original-micrograph pixels (``x_orig_px``,
``y_orig_px``), as in every coordinate file; the image sent is the working (preprocessed) one,
and each micrograph's ``orig_px_per_image_px`` says how the two relate (the recorded geometry's
downsampling times the display's own whole factor; image pixel centres sit on integers).
Refused requests get a 4xx and ``{"error": "..."}`` saying why, and change nothing.
"""

import hmac
import json
import logging
import math
import secrets
import socket
import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from cryopick.app.images import display_image, encode_webp, view_factor
from cryopick.app.project import Project, RequestError
from cryopick.app.ranking import rank_micrographs
from cryopick.app.training import Trainer
from cryopick.config import AppConfig
from cryopick.errors import CryopickError
from cryopick.extract.rescale import to_original_px
from cryopick.io.micrographs import read_micrograph
from cryopick.preprocess.fourier import downsampled_shape

log = logging.getLogger(__name__)

TOKEN_PARAMETER = "token"
TOKEN_HEADER = "x-cryopick-token"
#: Rendered images kept in memory (a few MB each at most).
IMAGE_CACHE_SIZE = 32


def new_token() -> str:
    """A random token for the app's URL: 32 bytes from the OS's generator, URL-safe."""
    return secrets.token_urlsafe(32)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``; port 0 asks the OS for a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class TokenGate:
    """Refuse every HTTP request without the app's token (query ``?token=`` or ``X-Cryopick-Token``)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with the right token, else answer 401 (none) or 403 (another)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        connection = HTTPConnection(scope)
        given = connection.query_params.get(TOKEN_PARAMETER) or connection.headers.get(TOKEN_HEADER)
        if not given:
            response = JSONResponse({"error": "missing token: open the address `cryopick app` printed (it ends in "
                                              "?token=...)"}, status_code=401)
        elif not hmac.compare_digest(given.encode(), self.token):
            response = JSONResponse({"error": "wrong token: open the address `cryopick app` printed"},
                                    status_code=403)
        else:
            await self.app(scope, receive, send)
            return
        await response(scope, receive, send)


async def read_json(request: Request, limit_bytes: int) -> dict[str, Any]:
    """The request's JSON object, refused (413) past ``limit_bytes`` before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > limit_bytes):
        raise RequestError(f"request body of {declared} bytes refused: at most {limit_bytes} bytes", status=413)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit_bytes:
            raise RequestError(f"request body refused: more than {limit_bytes} bytes", status=413)
    if not body:
        return {}
    try:
        data = json.loads(bytes(body))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RequestError(f"request body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise RequestError(f"request body must be a JSON object, got {type(data).__name__}")
    return data


def number(data: dict[str, Any], key: str) -> float:
    """``data[key]`` as a finite number, or a 400 naming the field."""
    if key not in data:
        raise RequestError(f"missing field {key!r}")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{key} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise RequestError(f"{key} must be a finite number, got {value!r}")
    return float(value)


def query_number(request: Request, key: str, default: float) -> float:
    """A query parameter as a finite number, or a 400 naming it."""
    text = request.query_params.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        raise RequestError(f"{key} must be a number, got {text!r}") from None
    if not math.isfinite(value):
        raise RequestError(f"{key} must be a finite number, got {text!r}")
    return value


def _page() -> str:
    static = resources.files("cryopick.app") / "static"
    page = (static / "index.html").read_text(encoding="utf-8")
    return (page.replace("/*STYLE*/", (static / "app.css").read_text(encoding="utf-8"))
            .replace("/*SCRIPT*/", (static / "app.js").read_text(encoding="utf-8")))


class AppRoutes:
    """The routes over one project and its trainer."""

    def __init__(self, project: Project, trainer: Trainer, config: AppConfig) -> None:
        self.project = project
        self.trainer = trainer
        self.config = config
        self.expected_particles_per_micrograph = config.expected_particles_per_micrograph
        self.page = _page()
        self._images: OrderedDict[str, bytes] = OrderedDict()
        self._images_lock = threading.Lock()

    # ---- what the page reads -----------------------------------------------------------------

    def view(self, name: str) -> dict[str, Any]:
        """How micrograph ``name`` is drawn: the image's size and its scale in original pixels."""
        record = self.project.manifest.micrographs[self.project.check_name(name)]
        factor = view_factor(record.shape_px, view_max_px=self.config.view_max_px)
        geometry = self.project.geometry
        return {"image_shape": list(downsampled_shape(record.shape_px, factor)),
                "orig_px_per_image_px": float(to_original_px(factor, downsample_factor=geometry.downsample_factor)),
                "shape_orig_px": list(record.shape_orig_px)}

    def micrograph(self, name: str) -> dict[str, Any]:
        """One micrograph's view, labels and open picks."""
        view = self.view(name)
        picks = self.project.open_picks(name)
        return {"name": name, **view,
                "labels": [[x, y] for x, y in self.project.labels(name)],
                "picks": [[float(x), float(y), float(s)]
                          for x, y, s in zip(picks.x_orig_px, picks.y_orig_px, picks.score, strict=True)]}

    def state(self, threshold: float) -> dict[str, Any]:
        """Everything the page needs at the start and after a round."""
        geometry = self.project.geometry
        return {"micrographs": self.project.summary(threshold), "n_labels": self.project.n_labels,
                "score_range": self.project.score_range(), "picks_round": self.project.picks_round,
                "particle_radius_orig_px": geometry.particle_radius_orig_px, "geometry": geometry.to_json(),
                "expected_particles_per_micrograph": self.expected_particles_per_micrograph,
                "training_budget": {"epochs": self.config.epochs, "steps_per_epoch": self.config.steps_per_epoch},
                "training": self.trainer.status()}

    def image(self, name: str) -> bytes:
        """The micrograph's display image as WebP, rendered once and kept while recently used."""
        name = self.project.check_name(name)
        with self._images_lock:
            if name in self._images:
                self._images.move_to_end(name)
                return self._images[name]
        record = self.project.manifest.micrographs[name]
        working = read_micrograph(self.project.micrographs_dir / record.file).array
        factor = view_factor(record.shape_px, view_max_px=self.config.view_max_px)
        data = encode_webp(display_image(working, factor=factor,
                                         particle_radius_px=self.project.geometry.particle_radius_px))
        with self._images_lock:
            self._images[name] = data
            while len(self._images) > IMAGE_CACHE_SIZE:
                self._images.popitem(last=False)
        return data

    def render_ahead(self, count: int) -> None:
        """Render the first ``count`` micrographs' images (a background thread at the start)."""
        for name in self.project.names[:count]:
            try:
                self.image(name)
            except CryopickError as exc:  # the page will say so when it asks for this one
                log.warning("cannot show %s: %s", name, exc)

    def suggestions(self) -> list[dict[str, Any]]:
        """The micrographs in "Which next?" order."""
        has_picks = self.project.score_range() is not None
        open_picks = None
        if has_picks:
            open_picks = {}
            for name in self.project.names:
                picks = self.project.open_picks(name)
                open_picks[name] = (picks.x_orig_px, picks.y_orig_px, picks.score)
        counts = {name: len(self.project.labels(name)) for name in self.project.names}
        return [asdict(s) for s in rank_micrographs(self.project.names, counts, open_picks)]

    # ---- handlers ----------------------------------------------------------------------------

    async def index(self, request: Request) -> Response:
        """``GET /``: the page (its script and style inlined: one request, nothing else served)."""
        return HTMLResponse(self.page, headers={"Cache-Control": "no-store"})

    async def get_state(self, request: Request) -> Response:
        """``GET /api/state?threshold=T``: the list, counts, score range, geometry and training status."""
        threshold = query_number(request, "threshold", 0.0)
        return JSONResponse(await run_in_threadpool(self.state, threshold))

    async def get_micrographs(self, request: Request) -> Response:
        """``GET /api/micrographs?threshold=T``: each micrograph's label count and picks at or above T."""
        threshold = query_number(request, "threshold", 0.0)
        return JSONResponse({"micrographs": await run_in_threadpool(self.project.summary, threshold)})

    async def get_micrograph(self, request: Request) -> Response:
        """``GET /api/micrographs/NAME``: its view, labels and open picks."""
        return JSONResponse(await run_in_threadpool(self.micrograph, request.path_params["name"]))

    async def get_image(self, request: Request) -> Response:
        """``GET /api/micrographs/NAME/image``: the display image (WebP)."""
        data = await run_in_threadpool(self.image, request.path_params["name"])
        return Response(data, media_type="image/webp", headers={"Cache-Control": "private, max-age=86400"})

    async def _change(self, request: Request, change: Callable[[str, dict[str, Any]], Any]) -> Response:
        name = request.path_params["name"]
        data = await read_json(request, self.config.max_body_bytes)
        self.project.check_name(name)
        result = await run_in_threadpool(change, name, data)
        return JSONResponse({"result": result, "micrograph": await run_in_threadpool(self.micrograph, name),
                             "n_labels": self.project.n_labels})

    async def add_label(self, request: Request) -> Response:
        """``POST /api/micrographs/NAME/labels {x_orig_px, y_orig_px}``: add a label."""
        return await self._change(request, lambda name, data: self.project.add_label(
            name, number(data, "x_orig_px"), number(data, "y_orig_px")))

    async def remove_label(self, request: Request) -> Response:
        """``POST /api/micrographs/NAME/labels/remove {x_orig_px, y_orig_px}``: remove the nearest label."""
        return await self._change(request, lambda name, data: list(self.project.remove_label(
            name, number(data, "x_orig_px"), number(data, "y_orig_px"))))

    def _judge(self, name: str, data: dict[str, Any], accept: bool) -> int:
        if "min_score" in data:
            return self.project.judge_picks(name, accept=accept, min_score=number(data, "min_score"))
        return self.project.judge_picks(name, accept=accept,
                                        point=(number(data, "x_orig_px"), number(data, "y_orig_px")))

    async def accept_picks(self, request: Request) -> Response:
        """``POST /api/micrographs/NAME/picks/accept {x_orig_px, y_orig_px} | {min_score}``: into the labels."""
        return await self._change(request, lambda name, data: self._judge(name, data, True))

    async def reject_picks(self, request: Request) -> Response:
        """``POST /api/micrographs/NAME/picks/reject {x_orig_px, y_orig_px} | {min_score}``: hide them."""
        return await self._change(request, lambda name, data: self._judge(name, data, False))

    async def undo(self, request: Request) -> Response:
        """``POST /api/undo``: undo the last change."""
        await read_json(request, self.config.max_body_bytes)
        change = await run_in_threadpool(self.project.undo)
        return JSONResponse({"undone": asdict(change), "micrograph": self.micrograph(change.micrograph),
                             "n_labels": self.project.n_labels})

    async def get_training(self, request: Request) -> Response:
        """``GET /api/train``: the background round's state and progress."""
        return JSONResponse(self.trainer.status())

    async def start_training(self, request: Request) -> Response:
        """``POST /api/train {expected_particles_per_micrograph}``: start a round (202), 409 while one runs."""
        data = await read_json(request, self.config.max_body_bytes)
        if "expected_particles_per_micrograph" in data:
            expected = number(data, "expected_particles_per_micrograph")
        elif self.expected_particles_per_micrograph is not None:
            expected = self.expected_particles_per_micrograph
        else:
            raise RequestError("missing field 'expected_particles_per_micrograph': how many particles a "
                               "micrograph holds on average, labelled or not")
        if expected <= 0:
            raise RequestError(f"expected_particles_per_micrograph must be positive, got {expected:g}")
        status = await run_in_threadpool(self.trainer.start_training, expected)
        self.expected_particles_per_micrograph = expected
        return JSONResponse(status, status_code=202)

    async def get_next(self, request: Request) -> Response:
        """``GET /api/next``: the micrographs in "Which next?" order, with their most uncertain picks."""
        return JSONResponse({"order": await run_in_threadpool(self.suggestions)})


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": str(exc)}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reason = {404: f"no such page or API route: {request.url.path}",
              405: f"{request.method} is not allowed on {request.url.path}"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"error": reason}, status_code=exc.status_code)


def create_app(project: Project, trainer: Trainer, config: AppConfig, *, token: str) -> ASGIApp:
    """The app: its routes over ``project``, behind the token gate."""
    routes = AppRoutes(project, trainer, config)
    # the first micrographs open at once (the page then prefetches each next one as it goes)
    threading.Thread(target=routes.render_ahead, args=(IMAGE_CACHE_SIZE // 4,), name="cryopick-app-images",
                     daemon=True).start()
    handlers: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
        ("/", routes.index, ["GET"]),
        ("/api/state", routes.get_state, ["GET"]),
        ("/api/micrographs", routes.get_micrographs, ["GET"]),
        ("/api/micrographs/{name}", routes.get_micrograph, ["GET"]),
        ("/api/micrographs/{name}/image", routes.get_image, ["GET"]),
        ("/api/micrographs/{name}/labels", routes.add_label, ["POST"]),
        ("/api/micrographs/{name}/labels/remove", routes.remove_label, ["POST"]),
        ("/api/micrographs/{name}/picks/accept", routes.accept_picks, ["POST"]),
        ("/api/micrographs/{name}/picks/reject", routes.reject_picks, ["POST"]),
        ("/api/undo", routes.undo, ["POST"]),
        ("/api/train", routes.get_training, ["GET"]),
        ("/api/train", routes.start_training, ["POST"]),
        ("/api/next", routes.get_next, ["GET"]),
    ]
    app = Starlette(routes=[Route(path, handler, methods=methods) for path, handler, methods in handlers],
                    exception_handlers={RequestError: _refused, HTTPException: _http_error})
    return TokenGate(app, token)
