"""Read a snapshot of an EXO 1.0 cluster and compare EXO's own placement with the optimal plan.

Accepted shape (JSON; see problems/exo-*.json), modelled on what EXO's master knows (exo.md 1.6):

    {"exo_version": "1.0",
     "nodes": [{"node_id": "studio-1", "chip": "Apple M3 Ultra", "gpu_cores": 80,
                "ram_total_gb": 512, "ram_available_gb": 480, "rdma_enabled": true}, ...],
     "connections": [{"source": "studio-1", "sink": "studio-2",
                      "interface": "thunderbolt", "rdma": true}, ...]}

``interface`` is EXO's interface type (thunderbolt, ethernet, maybe_ethernet, wifi, unknown).
Links: RDMA over Thunderbolt when the connection says so and both nodes have rdma_enabled;
Thunderbolt 5 between Macs that have it (else 4); Ethernet as 10 GbE; Wi-Fi and unknown as 1 GbE.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from catalog.resolve import resolver
from optimizer.perf.plan import evaluate_plan
from optimizer.problem import DeviceSpec, LinkSpec, Problem, ProblemError, Workload, resolve, validation_one_line
from optimizer.results import Analysis
from optimizer.solve.auto import AutoResult, auto_resolved
from optimizer.solve.candidates import exo_candidate

Interface = Literal["thunderbolt", "ethernet", "maybe_ethernet", "wifi", "unknown"]


class ExoNode(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_id: str = Field(min_length=1)
    chip: str = Field(min_length=1)
    gpu_cores: int | None = Field(default=None, gt=0)
    ram_total_gb: float = Field(gt=0)
    ram_available_gb: float = Field(gt=0)
    rdma_enabled: bool = False

    @model_validator(mode="after")
    def _available_le_total(self) -> ExoNode:
        if self.ram_available_gb > self.ram_total_gb:
            raise ValueError(f"node {self.node_id}: ram_available_gb exceeds ram_total_gb")
        return self


class ExoConnection(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str
    sink: str
    interface: Interface
    rdma: bool = False


class ExoState(BaseModel):
    """A snapshot of an EXO cluster: its nodes and the connections between them."""

    model_config = ConfigDict(extra="forbid")

    exo_version: str = "1.0"
    nodes: list[ExoNode] = Field(min_length=1)
    connections: list[ExoConnection] = []

    @model_validator(mode="after")
    def _known_nodes(self) -> ExoState:
        ids = [n.node_id for n in self.nodes]
        if len(set(ids)) != len(ids):
            raise ValueError("node_id values must be unique")
        for c in self.connections:
            for end in (c.source, c.sink):
                if end not in ids:
                    raise ValueError(f"connection names unknown node {end!r}")
        return self


def load_state(path: str | Path) -> ExoState:
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProblemError(f"cannot read {p}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ProblemError(f"{p}: not JSON (line {exc.lineno}: {exc.msg})") from None
    if not isinstance(data, dict) or "nodes" not in data:
        raise ProblemError(f"{p}: not an EXO cluster snapshot (expected an object with 'nodes' and 'connections')")
    try:
        return ExoState.model_validate(data)
    except ValidationError as exc:
        raise ProblemError(f"{p}: {validation_one_line(exc, root='snapshot', limit=1)}") from None


def _device_name(n: ExoNode) -> str:
    cores = f"{n.gpu_cores}-core GPU, " if n.gpu_cores else ""
    return f"{n.chip} ({cores}{n.ram_total_gb:g}GB)"


def _link(state: ExoState, c: ExoConnection, devices: dict[str, str]) -> str:
    by_id = {n.node_id: n for n in state.nodes}
    a, b = by_id[c.source], by_id[c.sink]
    if c.interface == "thunderbolt":
        if c.rdma and a.rdma_enabled and b.rdma_enabled:
            return "tb5-rdma"
        r = resolver()
        tb5 = all(r.device(devices[x]).entry.default_link in ("tb5", "tb5-rdma") for x in (c.source, c.sink))
        return "tb5" if tb5 else "tb4"
    if c.interface in ("ethernet", "maybe_ethernet"):
        return "10gbe"
    return "1gbe"  # Wi-Fi and unknown interfaces: no better than gigabit


_LINK_RANK = {"tb5-rdma": 0, "tb5": 1, "10gbe": 2, "tb4": 2, "1gbe": 3}


def state_to_problem(state: ExoState, model: str, quant: str, workload: Workload | None = None) -> Problem:
    names = {n.node_id: _device_name(n) for n in state.nodes}
    index = {n.node_id: i for i, n in enumerate(state.nodes)}
    best: dict[tuple[int, int], str] = {}
    for c in state.connections:
        if c.source == c.sink:
            continue
        pair = (min(index[c.source], index[c.sink]), max(index[c.source], index[c.sink]))
        kind = _link(state, c, names)
        if pair not in best or _LINK_RANK[kind] < _LINK_RANK[best[pair]]:
            best[pair] = kind
    return Problem(
        description=f"EXO cluster snapshot ({len(state.nodes)} nodes)",
        model=model,
        quant=quant,
        runtime="EXO",
        devices=[DeviceSpec(name=names[n.node_id]) for n in state.nodes],
        links=[LinkSpec(between=pair, kind=kind) for pair, kind in sorted(best.items())],
        topology="explicit",
        workload=workload or Workload(),
    )


class ExoPlan(BaseModel):
    """What EXO would place beside the optimal plan."""

    exo: Analysis | None
    exo_reason: str
    auto: AutoResult
    gain: str


def exo_plan(state: ExoState, model: str, quant: str, workload: Workload | None = None) -> ExoPlan:
    problem = state_to_problem(state, model, quant, workload)
    rp = resolve(problem)
    available = [n.ram_available_gb for n in state.nodes]
    cand = exo_candidate(rp, available)
    exo_a = evaluate_plan(cand.rp, cand.spec) if cand.spec is not None else None
    best = auto_resolved(rp)
    if exo_a is None:
        gain = f"EXO cannot place this model: {cand.invalid_reason}"
    else:
        mine, theirs = best.analysis.system.decode_tok_s, exo_a.system.decode_tok_s
        gain = f"AUTO {best.chosen}: {mine:.1f} tok/s vs EXO {theirs:.1f} tok/s ({mine / theirs:.2f}x)"
    return ExoPlan(exo=exo_a, exo_reason=cand.detail or (cand.invalid_reason or ""), auto=best, gain=gain)
