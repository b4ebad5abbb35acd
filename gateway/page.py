"""The web page at ``/``: static files from gateway/static (no build step, no CDN), served with a
strict Content-Security-Policy, and the output options form described from
:class:`gateway.options.OutputOptions` so the page offers exactly what the API accepts."""

from __future__ import annotations

import types
import typing
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from pydantic.fields import FieldInfo

from gateway import options

STATIC = Path(__file__).parent / "static"

# scripts and styles from our origin only, nothing inline, no eval, no framing, no plugins
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; media-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-cache",
}
# the choices a field validator allows (the model states them in code, not in its type)
CHOICES: dict[str, tuple[Any, ...]] = {
    "bitrate": options.BITRATES,
    "channels": options.CHANNELS,
    "sampleRate": options.SAMPLE_RATES,
}
LABELS = {
    "bitrate": "Bitrate (constant)",
    "quality": "Quality (variable, 0 best - 9 smallest)",
    "channels": "Channels",
    "sampleRate": "Sample rate (Hz)",
    "trimStart": "Start at (seconds)",
    "trimEnd": "End at (seconds)",
    "engine": "Engine",
    "notifyEmail": "Email me when it is done",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
async def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS)


@router.get("/page/options")
async def options_form() -> list[dict[str, Any]]:
    return form_fields()


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def form_fields() -> list[dict[str, Any]]:
    """One description per output option: name (the form field), label, kind (select, number,
    checkbox), choices, min/max, default, help. Pure."""
    return [_field(info.alias or name, info) for name, info in options.OutputOptions.model_fields.items()]


def _field(name: str, info: FieldInfo) -> dict[str, Any]:
    base = _base_type(info.annotation)
    field: dict[str, Any] = {
        "name": name,
        "label": LABELS.get(name, info.title or name),
        "help": info.description,
        "default": None if info.default is None or info.is_required() else info.default,
        "optional": _optional(info.annotation),
    }
    literal = typing.get_args(base) if typing.get_origin(base) is Literal else ()
    if name in CHOICES or literal:
        field.update(kind="select", choices=list(CHOICES.get(name) or literal))
    elif base is bool:
        field.update(kind="checkbox")
    elif base in (int, float):
        field.update(kind="number", step=1 if base is int else "any")
        for bound in info.metadata:
            for key, attr in (("min", "ge"), ("max", "le")):
                if getattr(bound, attr, None) is not None:
                    field[key] = getattr(bound, attr)
    else:
        field.update(kind="text")
    return field


def _optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> int; anything else unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation
