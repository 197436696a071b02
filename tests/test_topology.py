"""The link graph: inference rules, presets, explicit overrides, traffic per strategy, the slow hop
as the bottleneck, diagrams in every format, and EXO cluster snapshots."""

import json
from pathlib import Path

import pydot
import pytest
from click.testing import CliRunner

from optimizer.analyze import analyze
from optimizer.cli import main
from optimizer.exo_import import ExoState, exo_plan, load_state
from optimizer.problem import LinkSpec, Problem, ProblemError, Workload, resolve
from optimizer.report.diagram import FORMATS, render
from optimizer.topology import SWITCH

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize(
    ("devices", "rdma", "expected"),
    [
        (["2x RTX 4090"], False, "pcie4-x8"),  # two GeForce cards share a consumer board: x8/x8
        (["4x RTX 3090"], False, "pcie4-x16"),
        (["4x H100 SXM"], False, "nvlink4"),
        (["2x A100 80GB PCIe"], False, "pcie4-x16"),
        (["2x M4 Pro 64GB"], False, "tb5"),
        (["2x M4 Pro 64GB"], True, "tb5-rdma"),
        (["2x M2 Ultra"], True, "tb4"),  # no Thunderbolt 5, so no RDMA
        (["2x DGX Spark"], False, "cx7-dgx-spark"),
        (["M3 Ultra 256GB", "RTX 4090"], False, "10gbe"),
        (["RTX 4090", "RTX 4090"], False, "10gbe"),  # listed apart: separate boxes
    ],
)
def test_inference_rules(devices, rdma, expected):
    rp = resolve(Problem(model="Llama 3.2 1B", quant="FP16", devices=devices, rdma=rdma))
    assert rp.hops[0].id == expected
    assert rp.hops_inferred[0]


@pytest.mark.parametrize(("preset", "edges"), [("chain", 3), ("ring", 4), ("mesh", 6), ("star", 4)])
def test_presets(preset, edges):
    rp = resolve(Problem(model="Llama 3.2 1B", quant="FP16", devices=["4x RTX 3090"], topology=preset))
    assert rp.topology.graph.number_of_edges() == edges
    if preset == "star":
        assert SWITCH in rp.topology.graph
        assert rp.hops[0].latency_us == pytest.approx(2 * 20.0)  # two 10 GbE legs through the switch


def test_explicit_links_override_inference():
    p = Problem(
        model="Llama 3 8B",
        quant="Q4_K_M",
        devices=["M4 Pro 64GB", "M4 Pro 64GB", "RTX 4090"],
        links=[LinkSpec(between=(0, 1), kind="TB5 RDMA")],
    )
    rp = resolve(p)
    assert rp.hops[0].id == "tb5-rdma" and not rp.hops_inferred[0]
    assert rp.hops[1].id == "10gbe" and rp.hops_inferred[1]


def test_links_out_of_range_are_rejected():
    with pytest.raises(ValueError, match="must name two different devices"):
        Problem(
            model="Llama 3 8B", quant="Q4_K_M", devices=["2x RTX 4090"], links=[LinkSpec(between=(0, 2), kind="10GbE")]
        )


def test_explicit_topology_without_a_path_is_an_error():
    p = Problem(
        model="Llama 3 8B",
        quant="Q4_K_M",
        devices=["3x RTX 4090"],
        topology="explicit",
        links=[LinkSpec(between=(0, 1), kind="10GbE")],
    )
    with pytest.raises(ProblemError, match="not connected"):
        resolve(p)


def test_traffic_per_strategy():
    pipe = analyze(Problem(model="Llama 3 70B", quant="Q4_K_M", devices=["2x RTX 3090"], workload=Workload(batch=2)))
    hop = pipe.links[0]
    assert hop.traffic == "pipeline" and hop.bytes_per_token == 2 * 8192 * 2  # hidden x fp16 x batch
    tp = analyze(Problem(model="Llama 3 8B", quant="FP16", runtime="vLLM", devices=["2x RTX 4090"], strategy="tensor"))
    assert [lk.traffic for lk in tp.links] == ["tensor group"]
    pd = analyze(
        Problem(
            model="Llama 3.1 8B",
            quant="FP16",
            runtime="EXO",
            devices=["DGX Spark", "M3 Ultra 256GB"],
            link="10GbE",
            strategy="pd-split",
            workload=Workload(prompt_tokens=8192, gen_tokens=32),
        )
    )
    assert "kv handoff" in [lk.traffic for lk in pd.links]


def test_the_slow_hop_is_the_bottleneck():
    p = Problem(
        model="Llama 3.2 3B",
        quant="Q4_K_M",
        devices=["RTX 4090", "RTX 4090", "RTX 4090"],
        links=[LinkSpec(between=(0, 1), kind="PCIe 4.0 x16"), LinkSpec(between=(1, 2), kind="1GbE")],
    )
    a = analyze(p)
    flagged = [lk for lk in a.links if lk.bottleneck]
    assert a.system.bottleneck in ("interconnect", "overhead")  # a 3B model: launch overheads compete
    assert len(flagged) == 1 and flagged[0].between == (1, 2) and flagged[0].link_id == "1gbe"
    assert a.link_upgrade is None or "instead of 1gbe" in a.link_upgrade


@pytest.fixture(scope="module")
def cluster():
    return analyze(Problem(model="Llama 3.3 70B", quant="Q4_K_M", devices=["M3 Ultra 256GB", "RTX 4090"], link="10GbE"))


@pytest.mark.parametrize("fmt", FORMATS)
def test_diagrams_in_every_format(cluster, fmt):
    out = render(cluster, fmt)
    names = [d.name for d in cluster.devices]
    if fmt == "png":
        from io import BytesIO

        from PIL import Image

        assert out[:8] == b"\x89PNG\r\n\x1a\n" and len(out) > 2000
        meta = Image.open(BytesIO(out)).text
        assert all(n in meta["devices"] for n in names)
        return
    assert out and all(n.split(" (")[0] in out for n in names)
    if fmt == "dot":
        graphs = pydot.graph_from_dot_data(out)
        assert graphs and len(graphs[0].get_edges()) == len(cluster.links)
    if fmt == "mermaid":
        lines = out.splitlines()
        assert lines[0] == "flowchart LR"
        assert sum("-->" in ln or "-.->" in ln for ln in lines) == len(cluster.links)
    if fmt == "svg":
        assert out.startswith("<svg") and out.rstrip().endswith("</svg>")


def test_topology_cli_writes_files(tmp_path):
    for fmt in ("svg", "png"):
        f = tmp_path / f"t.{fmt}"
        r = CliRunner().invoke(
            main, ["topology", str(ROOT / "problems/8x-m4-pro-llama3-70b-tb5.yaml"), "--format", fmt, "--out", str(f)]
        )
        assert r.exit_code == 0, r.output
        assert f.stat().st_size > 1000
    r = CliRunner().invoke(main, ["topology", str(ROOT / "problems/8x-m4-pro-llama3-70b-tb5.yaml"), "--format", "png"])
    assert r.exit_code == 2 and "--out" in r.output


@pytest.mark.parametrize("path", sorted(ROOT.glob("problems/exo-*.json")), ids=lambda p: p.stem)
def test_exo_snapshots_round_trip(path):
    state = load_state(path)
    assert ExoState.model_validate(json.loads(state.model_dump_json())) == state
    plan = exo_plan(state, "Llama 3.3 70B", "MLX 4-bit")
    assert plan.auto.analysis.fits
    if plan.exo is not None and plan.exo.fits:
        assert plan.auto.analysis.system.decode_tok_s >= plan.exo.system.decode_tok_s * (1 - 1e-6)


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        ("[1, 2]", "not an EXO cluster snapshot"),
        ("{not json", "not JSON"),
        ('{"nodes": []}', "nodes"),
        (
            '{"nodes": [{"node_id": "a", "chip": "Apple M4 Pro", "ram_total_gb": 64, "ram_available_gb": 60}],'
            ' "connections": [{"source": "a", "sink": "b", "interface": "thunderbolt"}]}',
            "unknown node",
        ),
        (
            '{"nodes": [{"node_id": "a", "chip": "Apple M4 Pro", "ram_total_gb": 64, "ram_available_gb": 90}]}',
            "exceeds",
        ),
    ],
)
def test_malformed_snapshots_are_one_line_errors(tmp_path, content, needle):
    f = tmp_path / "state.json"
    f.write_text(content)
    r = CliRunner().invoke(main, ["exo-plan", str(f), "--model", "Llama 3 8B"])
    assert r.exit_code == 2, r.output
    assert len(r.output.strip().splitlines()) == 1 and needle in r.output


def test_exo_plan_cli_json():
    r = CliRunner().invoke(
        main,
        [
            "exo-plan",
            str(ROOT / "problems/exo-4x-m3-ultra-rdma.json"),
            "--model",
            "Qwen3-235B-A22B",
            "--quant",
            "MLX 8-bit",
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["auto"]["chosen"].startswith("tensor") and d["gain"]
