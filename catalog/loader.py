"""Load and validate the catalog's YAML files into pydantic objects (cached, read once)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TypeVar

import yaml
from pydantic import ValidationError

from catalog.schema import Device, Entry, Link, Model, Quant, Runtime

E = TypeVar("E", bound=Entry)
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when the wheel has it: ~10x faster


class CatalogError(ValueError):
    """A catalog data file is malformed (a bug in the shipped data, not in user input)."""


@dataclass(frozen=True)
class Catalog:
    devices: dict[str, Device]
    links: dict[str, Link]
    models: dict[str, Model]
    quants: dict[str, Quant]
    runtimes: dict[str, Runtime]


def _read(filename: str, cls: type[E]) -> dict[str, E]:
    text = resources.files("catalog").joinpath("data", filename).read_text(encoding="utf-8")
    raw = yaml.load(text, Loader=_LOADER) or []
    out: dict[str, E] = {}
    for i, item in enumerate(raw):
        try:
            entry = cls.model_validate(item)
        except ValidationError as exc:
            ident = item.get("id", f"#{i}") if isinstance(item, dict) else f"#{i}"
            raise CatalogError(f"{filename}: entry {ident}: {exc}") from exc
        if entry.id in out:
            raise CatalogError(f"{filename}: duplicate id {entry.id!r}")
        out[entry.id] = entry
    return out


@cache
def load_catalog() -> Catalog:
    """The whole catalog, validated, with cross-references checked."""
    cat = Catalog(
        devices=_read("devices.yaml", Device),
        links=_read("links.yaml", Link),
        models=_read("models.yaml", Model),
        quants=_read("quants.yaml", Quant),
        runtimes=_read("runtimes.yaml", Runtime),
    )
    for d in cat.devices.values():
        for ref in (d.default_link, d.nvlink):
            if ref is not None and ref not in cat.links:
                raise CatalogError(f"devices.yaml: {d.id} refers to unknown link {ref!r}")
    for r in cat.runtimes.values():
        if r.base is not None and r.base not in cat.runtimes:
            raise CatalogError(f"runtimes.yaml: {r.id} refers to unknown base {r.base!r}")
    return cat
