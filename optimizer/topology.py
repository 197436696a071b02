"""The link graph: devices as nodes, links as edges, built from explicit links, a preset, or rules.

Inference rules when the problem names no link (each inferred edge is marked so in every output):
* devices listed together ("4x H100") share a box: datacenter GPUs with NVLink get their NVLink;
  two GeForce cards on one consumer board get PCIe x8 each (the board splits its x16 lanes); other
  GPUs in a box get their own PCIe slot (x16);
* Macs get Thunderbolt 5 when both have it (RDMA with ``rdma=True``), else Thunderbolt 4;
* a DGX Spark pair gets its ConnectX-7 ports; other unified-memory boxes of one kind their USB4;
* anything else (separate boxes) gets 10 GbE.
Presets: ``chain`` (each device to the next), ``ring`` (chain closed), ``mesh`` (all pairs), ``star``
(every device to one switch; the link is ``--link`` or 10 GbE). ``--link`` sets every edge; explicit
``links`` in a problem file override single pairs. Paths between devices that share no edge take the
fastest route: bandwidth of its slowest edge, latencies added.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Literal

import networkx as nx

from catalog.schema import Link
from optimizer.problem import DeviceInstance

Preset = Literal["chain", "ring", "mesh", "star", "explicit"]
SWITCH = "switch"


class DisconnectedError(ValueError):
    """Two devices share no path in the link graph."""


@dataclass(frozen=True)
class Edge:
    link: Link
    source: str  # explicit | preset | inferred


@dataclass
class Topology:
    graph: nx.Graph
    preset: str | None

    def edge(self, a: int, b: int) -> Edge | None:
        data = self.graph.get_edge_data(a, b)
        return data["edge"] if data else None

    def path(self, a: int, b: int) -> list[int | str]:
        return nx.shortest_path(self.graph, a, b, weight=lambda u, v, d: d["edge"].link.latency_us + 1e-3)

    def link_between(self, a: int, b: int) -> tuple[Link, bool]:
        """The effective link from device ``a`` to ``b`` and whether any part of it was inferred."""
        direct = self.edge(a, b)
        if direct is not None:
            return direct.link, direct.source == "inferred"
        try:
            nodes = self.path(a, b)
        except nx.NetworkXNoPath:
            la, lb = self.graph.nodes[a]["label"], self.graph.nodes[b]["label"]
            raise DisconnectedError(f"{la} and {lb} are not connected by any link") from None
        edges = [self.graph.edges[u, v]["edge"] for u, v in itertools.pairwise(nodes)]
        slowest = min(edges, key=lambda e: e.link.bandwidth_gb_s)
        combined = slowest.link.model_copy(
            update={
                "id": "+".join(e.link.id for e in edges),
                "name": " + ".join(e.link.name for e in edges),
                "latency_us": sum(e.link.latency_us for e in edges),
            }
        )
        return combined, any(e.source == "inferred" for e in edges)


def infer_link(
    a: DeviceInstance, b: DeviceInstance, same_box: bool, box_size: int, links: dict[str, Link], rdma: bool
) -> Link:
    """The link two devices get when nothing names one (rules in the module docstring)."""
    da, db = a.device, b.device
    if da.id == db.id and same_box:
        if da.nvlink and da.segment != "consumer":
            return links[da.nvlink]
        if da.kind == "gpu":
            default = links[da.default_link]
            if da.segment == "consumer" and box_size == 2 and default.id.endswith("-x16"):
                return links.get(default.id.replace("-x16", "-x8"), default)
            return default
    if da.vendor == db.vendor == "Apple":
        tb5 = {da.default_link, db.default_link} <= {"tb5", "tb5-rdma"}
        if tb5:
            return links["tb5-rdma"] if rdma else links["tb5"]
        return links["tb4"]
    if da.id == db.id == "dgx-spark":
        return links["cx7-dgx-spark"]
    if da.id == db.id and da.kind == "apu":
        return links[da.default_link]
    return links["10gbe"]


def build_topology(
    devices: list[DeviceInstance],
    box_of: list[int],
    links: dict[str, Link],
    every_edge: Link | None = None,
    explicit: dict[tuple[int, int], Link] | None = None,
    preset: Preset | None = None,
    rdma: bool = False,
) -> Topology:
    """The link graph of ``devices`` (``box_of[i]``: which box device i sits in)."""
    g = nx.Graph()
    for inst in devices:
        g.add_node(inst.index, label=inst.label, device=inst.device.id)
    n = len(devices)
    box_sizes = {b: box_of.count(b) for b in set(box_of)}

    def pair_link(i: int, j: int) -> Edge:
        if explicit and (min(i, j), max(i, j)) in explicit:
            return Edge(explicit[min(i, j), max(i, j)], "explicit")
        if every_edge is not None:
            return Edge(every_edge, "explicit")
        same = box_of[i] == box_of[j]
        return Edge(infer_link(devices[i], devices[j], same, box_sizes[box_of[i]], links, rdma), "inferred")

    if preset == "star":
        g.add_node(SWITCH, label="switch", device="switch")
        for i in range(n):
            link = every_edge or links["10gbe"]
            g.add_edge(i, SWITCH, edge=Edge(link, "preset" if every_edge is None else "explicit"))
    else:
        if preset == "explicit":
            pairs = []
        elif preset in ("chain", "ring"):
            pairs = list(itertools.pairwise(range(n)))
            if preset == "ring" and n > 2:
                pairs.append((n - 1, 0))
        else:  # mesh, or inferred: every pair has its own path
            pairs = list(itertools.combinations(range(n), 2))
        for i, j in pairs:
            g.add_edge(i, j, edge=pair_link(i, j))
    if explicit:
        for (i, j), link in explicit.items():
            g.add_edge(i, j, edge=Edge(link, "explicit"))
    return Topology(graph=g, preset=preset)
