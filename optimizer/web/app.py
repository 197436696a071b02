"""The local dashboard: a Starlette JSON API over the same Python functions as the CLI, plus the
static front end shipped in ``optimizer/web/static`` (no CDN: everything is served from here).

Endpoints (all JSON; bad input is a 422 with ``{"error": "..."}``, never a 500):
    GET  /                         the dashboard
    GET  /api/catalog/{section}    devices | models | links | quants | runtimes (?search=)
    POST /api/analyze              a problem -> Analysis (+ "topology_svg")
    POST /api/auto                 {"problem": ..., "objective": ...} -> AutoResult
    POST /api/min-hardware         a hardware ask -> HardwareAnswer
    POST /api/recommend            a hardware ask -> HardwareAnswer
    POST /api/share                a problem -> {"share": "mlba1...."}
    GET  /api/share/{string}       -> the problem
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from catalog.resolve import UnknownNameError
from optimizer.problem import ProblemError, problem_from_dict, validation_one_line

log = logging.getLogger("mlba.web")

SECTIONS = ("devices", "models", "links", "quants", "runtimes")


def _static_dir() -> str:
    return str(resources.files("optimizer.web").joinpath("static"))


def _error(message: str, status: int = 422) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _json(request: Request) -> Any:
    try:
        return await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ProblemError("the request body is not JSON") from None
    except RecursionError:
        raise ProblemError("the request body is nested too deeply") from None


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return validation_one_line(exc, root="input", limit=1)
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _handles_errors(fn):  # type: ignore[no-untyped-def]
    async def wrapper(request: Request) -> Response:
        try:
            return await fn(request)
        except (ProblemError, UnknownNameError, ValidationError, ValueError, KeyError, TypeError) as exc:
            return _error(_one_line(exc))
        except RecursionError:
            return _error("the input is nested too deeply")
        except Exception as exc:  # a bug, not bad input: still one readable JSON line for the page
            log.exception("dashboard request failed")
            return _error(f"internal error ({type(exc).__name__}): {_one_line(exc)}", 500)

    return wrapper


async def index(request: Request) -> Response:
    return FileResponse(f"{_static_dir()}/index.html")


@_handles_errors
async def catalog(request: Request) -> Response:
    section = request.path_params["section"]
    if section not in SECTIONS:
        return _error(f"unknown section {section!r}; one of {', '.join(SECTIONS)}", 404)
    from optimizer.report.catalog_table import catalog_frame

    df = catalog_frame(section, request.query_params.get("search"))
    keep = {
        "devices": ["id", "name", "family", "memory_gb", "bandwidth_gb_s", "fp16_tflops", "tdp_w", "price_usd"],
        "models": ["id", "name", "layers", "total_b", "active_b", "moe", "max_context"],
        "links": ["id", "name", "kind", "bandwidth_gb_s", "latency_us"],
        "quants": ["id", "name", "bits_per_weight", "format"],
        "runtimes": ["id", "name", "engine", "backend"],
    }[section]
    return JSONResponse(json.loads(df[keep].to_json(orient="records")))


@_handles_errors
async def analyze(request: Request) -> Response:
    from optimizer.analyze import analyze as run
    from optimizer.report.diagram import svg

    problem = problem_from_dict(await _json(request), "request")
    a = run(problem)
    return JSONResponse({**a.model_dump(mode="json"), "topology_svg": svg(a) if len(a.devices) > 1 else ""})


@_handles_errors
async def auto(request: Request) -> Response:
    from optimizer.solve.auto import auto as run

    body = await _json(request)
    if not isinstance(body, dict) or "problem" not in body:
        raise ProblemError('expected {"problem": {...}, "objective": "decode"}')
    problem = problem_from_dict(body["problem"], "problem")
    objective = body.get("objective", "decode")
    from optimizer.solve.strategy import METRICS

    if not isinstance(objective, str) or objective not in METRICS:
        raise ProblemError(f"objective {objective!r}: one of {', '.join(METRICS)}")
    return JSONResponse(run(problem, objective).model_dump(mode="json"))


async def _hardware(request: Request, ask: str) -> Response:
    from optimizer.solve.hardware import HardwareAsk, answer

    body = await _json(request)
    if not isinstance(body, dict):
        raise ProblemError("expected a JSON object")
    return JSONResponse(answer(HardwareAsk.model_validate({**body, "ask": ask})).model_dump(mode="json"))


@_handles_errors
async def min_hardware(request: Request) -> Response:
    return await _hardware(request, "min-hardware")


@_handles_errors
async def recommend(request: Request) -> Response:
    return await _hardware(request, "recommend")


@_handles_errors
async def share(request: Request) -> Response:
    from optimizer.scenario import share_string

    return JSONResponse({"share": share_string(problem_from_dict(await _json(request), "request"))})


@_handles_errors
async def unshare(request: Request) -> Response:
    from optimizer.scenario import from_share, problem_data

    return JSONResponse(problem_data(from_share(request.path_params["code"])))


def create_app() -> Starlette:
    routes = [
        Route("/", index),
        Route("/api/catalog/{section}", catalog),
        Route("/api/analyze", analyze, methods=["POST"]),
        Route("/api/auto", auto, methods=["POST"]),
        Route("/api/min-hardware", min_hardware, methods=["POST"]),
        Route("/api/recommend", recommend, methods=["POST"]),
        Route("/api/share", share, methods=["POST"]),
        Route("/api/share/{code}", unshare),
        Mount("/static", app=StaticFiles(directory=_static_dir()), name="static"),
    ]
    return Starlette(routes=routes)
