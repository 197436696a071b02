"""Resolve names as people write them to catalog entries.

Matching is case- and punctuation-insensitive, ignores vendor prefixes ("NVIDIA GeForce", "Apple",
"AMD"), understands GPU core counts ("76-core GPU" = "76c") and memory sizes ("M3 Ultra 512GB"
selects that memory option). An ambiguous name ("M3 Ultra") resolves to the entry that carries it as
an alias (the documented default variant) and the resolution says so. Unknown names raise
:class:`UnknownNameError` with a short did-you-mean list.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Generic, TypeVar

from catalog.loader import load_catalog
from catalog.schema import Device, Entry, Link, Model, Quant, Runtime

E = TypeVar("E", bound=Entry)

_VENDOR_WORDS = ("nvidia", "geforce", "apple", "amd", "intel", "google", "meta-llama", "meta")
_MEMORY = re.compile(r"(\d+(?:\.\d+)?)\s*(gb|gib|tb)\b(?!/s)", re.IGNORECASE)
_BANDWIDTH = re.compile(r"\d+(?:\.\d+)?\s*gb/s", re.IGNORECASE)
_CORES = re.compile(r"(\d+)[\s-]*core(?:s)?(?:\s*gpu)?", re.IGNORECASE)


class UnknownNameError(ValueError):
    """A name matched nothing in the catalog."""

    def __init__(self, kind: str, name: str, suggestions: list[str]):
        self.kind, self.name, self.suggestions = kind, name, suggestions
        hint = f"; did you mean: {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (list them with `mlba catalog {kind}s`)")


@dataclass(frozen=True)
class Resolved(Generic[E]):
    """A resolved entry; ``note`` explains any choice made for the user (default variant...)."""

    entry: E
    query: str
    note: str | None = None


@dataclass(frozen=True)
class ResolvedDevice(Resolved[Device]):
    memory_gb: float = 0.0
    price_usd: float | None = None


def normalize(text: str) -> str:
    """Lowercase, drop vendor words and punctuation; '76-core GPU' -> '76c'."""
    s = text.lower()
    s = _CORES.sub(lambda m: f" {m.group(1)}c ", s)
    s = re.sub(r"\bgpu\b", " ", s)
    for w in _VENDOR_WORDS:
        s = re.sub(rf"(?<![a-z]){re.escape(w)}(?![a-z])", " ", s)
    return re.sub(r"[^a-z0-9.+]", "", s).replace(".", "").replace("+", "")


def _strip_memory(text: str) -> tuple[str, float | None]:
    text = _BANDWIDTH.sub(" ", text)
    m = _MEMORY.search(text)
    if not m:
        return text, None
    value = float(m.group(1)) * (1000.0 if m.group(2).lower() == "tb" else 1.0)
    return (text[: m.start()] + " " + text[m.end() :]), value


_FILLER = frozenset(
    {
        "gpu",
        "the",
        "with",
        "edition",
        "founders",
        "mac",
        "studio",
        "mini",
        "macbook",
        "pro's",
        "desktop",
        "instruct",
        "chat",
        "it",
        "hf",
        "gguf",
        "model",
        "base",
        "card",
        "graphics",
        "unified",
        "memory",
    }
)


def tokens(text: str) -> frozenset[str]:
    """Word tokens for fuzzy matching: lowercase, '80-core GPU' -> '80c', vendor and filler words and
    memory sizes dropped ('M3 Ultra (Mac Studio, 512GB, 80-core GPU)' -> {m3, ultra, 80c})."""
    s = _BANDWIDTH.sub(" ", text.lower())
    s = _MEMORY.sub(" ", s)
    s = _CORES.sub(lambda m: f" {m.group(1)}c ", s)
    words = re.split(r"[^a-z0-9.+_]+", s)
    out = {w.strip(".+") for w in words}
    return frozenset(w for w in out if w and w not in _FILLER and w not in _VENDOR_WORDS)


def _distinctive(words: frozenset[str]) -> bool:
    return any(any(c.isdigit() for c in w) for w in words) or sum(len(w) for w in words) >= 3


class Index(Generic[E]):
    """Normalized keys -> entries for one catalog section."""

    def __init__(self, kind: str, entries: dict[str, E]):
        self.kind = kind
        self.entries = entries
        self.keys: dict[str, E] = {}
        self.alias_keys: set[str] = set()
        self.word_sets: list[tuple[frozenset[str], E]] = []
        for e in entries.values():
            for key in (e.id, e.name):
                self._add(normalize(key), e)
            for alias in e.aliases:
                k = normalize(alias)
                self._add(k, e)
                self.alias_keys.add(k)
            for text in (e.name, *e.aliases):
                words = tokens(text)
                if words and _distinctive(words):
                    self.word_sets.append((words, e))

    def lookup_words(self, query: str, memory_gb: float | None = None) -> E | None:
        """The entry whose name or alias words are all in the query (most words wins; ties go to
        the entry whose memory matches, then to the one whose words cover the query best)."""
        q = tokens(query)
        best: list[tuple[tuple[int, int, int], E]] = []
        for words, e in self.word_sets:
            if words <= q:
                mem_ok = int(memory_gb is not None and abs(getattr(e, "memory_gb", -1) - memory_gb) < 0.5)
                best.append(((len(words), mem_ok, -len(q - words)), e))
        if not best:
            return None
        best.sort(key=lambda x: x[0], reverse=True)
        top_score = best[0][0]
        winners = {e.id for score, e in best if score == top_score}
        return best[0][1] if len(winners) == 1 else None

    def _add(self, key: str, e: E) -> None:
        other = self.keys.get(key)
        if other is not None and other.id != e.id:
            raise ValueError(f"{self.kind} name {key!r} is claimed by both {other.id} and {e.id}")
        self.keys[key] = e

    def lookup(self, query: str, words: bool = True) -> Resolved[E]:
        key = normalize(query)
        if not key:
            raise UnknownNameError(self.kind, query, [])
        e = self.keys.get(key)
        if e is None:
            e = self.lookup_words(query) if words else None
            if e is None:
                raise UnknownNameError(self.kind, query, self.suggest(query))
            return Resolved(entry=e, query=query, note=f"read {query!r} as {e.name}")
        note = None
        if key in self.alias_keys and key not in (normalize(e.id), normalize(e.name)):
            siblings = sorted({x.name for k, x in self.keys.items() if k.startswith(key) and x.id != e.id})
            if siblings:
                note = f"{query!r} is ambiguous ({', '.join(siblings[:4])}...); using {e.name}, the default variant"
        return Resolved(entry=e, query=query, note=note)

    def suggest(self, query: str, n: int = 4) -> list[str]:
        key = normalize(query)
        names: list[str] = []
        for k in difflib.get_close_matches(key, list(self.keys), n=12, cutoff=0.5):
            name = self.keys[k].name
            if name not in names:
                names.append(name)
        if not names:
            names = sorted({e.name for k, e in self.keys.items() if key and key[:3] in k})[:n]
        return names[:n]


class Resolver:
    """Name resolution over the whole catalog."""

    def __init__(self) -> None:
        cat = load_catalog()
        self.catalog = cat
        self.devices = Index("device", cat.devices)
        self.links = Index("link", cat.links)
        self.models = Index("model", cat.models)
        self.quants = Index("quant", cat.quants)
        self.runtimes = Index("runtime", cat.runtimes)

    def device(self, query: str) -> ResolvedDevice:
        """Resolve a device name, selecting a memory option if the name gives a size."""
        try:
            r = self.devices.lookup(query, words=False)
            memory = None
        except UnknownNameError:
            if "+" in query.replace("Max+", "").replace("MAX+", "").replace("max+", ""):
                raise UnknownNameError("device", query, []) from None
            stripped, memory = _strip_memory(query)
            try:
                r = self.devices.lookup(" ".join(stripped.split()), words=False)
            except UnknownNameError as exc:
                e = self.devices.lookup_words(query, memory)
                if e is None:
                    raise UnknownNameError("device", query, exc.suggestions) from None
                r = Resolved(entry=e, query=query, note=f"read {query!r} as {e.name}")
        return self._with_memory(r, memory)

    def _with_memory(self, r: Resolved[Device], memory: float | None) -> ResolvedDevice:
        d = r.entry
        if memory is None or abs(memory - d.memory_gb) < 0.5:
            price = d.price_usd
            for opt in d.memory_options:
                if abs(opt.memory_gb - d.memory_gb) < 0.5 and opt.price_usd:
                    price = opt.price_usd
            return ResolvedDevice(entry=d, query=r.query, note=r.note, memory_gb=d.memory_gb, price_usd=price)
        for opt in d.memory_options:
            if abs(opt.memory_gb - memory) < 0.5:
                return ResolvedDevice(
                    entry=d,
                    query=r.query,
                    note=r.note,
                    memory_gb=opt.memory_gb,
                    price_usd=opt.price_usd,  # None when this configuration's price is not sourced
                )
        sizes = sorted({d.memory_gb, *(o.memory_gb for o in d.memory_options)})
        raise UnknownNameError("device", r.query, [f"{d.name} {s:g}GB" for s in sizes])

    def link(self, query: str) -> Link:
        return self.links.lookup(query).entry

    def model(self, query: str) -> Resolved[Model]:
        r = self.models.lookup(query)
        if r.note and r.note.startswith("read "):
            _check_size(query, r.entry)
        return r

    def quant(self, query: str) -> Quant:
        return self.quants.lookup(query).entry

    def runtime(self, query: str) -> Runtime:
        return self.runtimes.lookup(query).entry


_SIZE = re.compile(r"(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*b\b", re.IGNORECASE)


def _check_size(query: str, m: Model) -> None:
    """A word match must not contradict a parameter count the name states ("Phi-4-mini, 3.8B" is
    not Phi-4 14B)."""
    sizes = [float(x) for x in _SIZE.findall(query)]
    if sizes and all(abs(x / m.published_params_b - 1) > 0.25 for x in sizes):
        raise UnknownNameError("model", query, [m.name])


_RESOLVER: Resolver | None = None


def resolver() -> Resolver:
    """The process-wide resolver (built on first use)."""
    global _RESOLVER
    if _RESOLVER is None:
        _RESOLVER = Resolver()
    return _RESOLVER
