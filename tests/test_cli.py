"""The CLI end to end (click's CliRunner): tables, JSON schema, and one-line errors."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.cli import main

PROBLEMS = Path(__file__).parents[1] / "problems"


def invoke(*args):
    return CliRunner().invoke(main, list(args))


def test_analyze_problem_file_table():
    r = invoke("analyze", str(PROBLEMS / "rtx4090-llama3-8b.yaml"))
    assert r.exit_code == 0, r.output
    assert "tok/s" in r.output and "RTX 4090" in r.output and "Bottleneck" in r.output


def test_analyze_json_schema():
    r = invoke("analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "2x RTX 3090", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["fits"] is True and data["strategy"] == "pipeline"
    for key in (
        "decode_tok_s",
        "prefill_tok_s",
        "ttft_s",
        "power_w",
        "cost_per_day_usd",
        "cost_per_month_usd",
        "tokens_per_usd",
        "price_usd",
        "bottleneck",
    ):
        assert key in data["system"], key
    assert len(data["devices"]) == 2
    for key in ("name", "layers", "memory_used_gb", "memory_capacity_gb", "bottleneck", "power_w"):
        assert key in data["devices"][0], key
    assert sum(d["layers"] for d in data["devices"]) == 32
    assert isinstance(data["warnings"], list)
    assert len(data["links"]) == 1


def test_flags_override_problem_file():
    r = invoke("analyze", str(PROBLEMS / "rtx4090-llama3-8b.yaml"), "--device", "RTX 3090", "--json")
    data = json.loads(r.output)
    assert "3090" in data["devices"][0]["name"]


def test_not_fitting_model_reports_missing_memory():
    r = invoke("analyze", str(PROBLEMS / "h100-llama3-70b-fp16.yaml"))
    assert r.exit_code == 0
    assert "does not fit" in r.output and "GB more than usable" in r.output


def test_catalog_lists():
    for section in ("devices", "models", "links", "quants", "runtimes"):
        r = invoke("catalog", section, "--json")
        assert r.exit_code == 0, r.output
        assert len(json.loads(r.output)) > 5


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4099"],
            "did you mean",
        ),
        (
            ["analyze", "--model", "Lama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4090"],
            "unknown model",
        ),
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_Z", "--device", "RTX 4090"],
            "unknown quant",
        ),
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "0x RTX 4090"],
            "count",
        ),
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "-2x RTX 4090"],
            "count",
        ),
        (["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M"], "missing devices"),
        (
            [
                "analyze",
                "--model",
                "Llama 3 8B",
                "--quant",
                "Q4_K_M",
                "--device",
                "RTX 4090",
                "--link",
                "warp drive",
            ],
            "unknown link",
        ),
        (
            [
                "analyze",
                "--model",
                "Llama 3 8B",
                "--quant",
                "Q4_K_M",
                "--device",
                "RTX 4090",
                "--gen-tokens",
                "0",
            ],
            "gen_tokens",
        ),
        (
            [
                "analyze",
                "--model",
                "Llama 3 8B",
                "--quant",
                "Q4_K_M",
                "--device",
                "2x RTX 4090",
                "--layers",
                "10,10",
            ],
            "layers",
        ),
        (["analyze", "no/such/file.yaml"], "cannot read"),
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4090", "--context", "10"],
            "context",
        ),
        (["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4090", "--batch", "0"], "batch"),
        (
            ["analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4090", "--layers", "1,x"],
            "layers",
        ),
        (
            [
                "analyze",
                "--model",
                "Llama 3 8B",
                "--quant",
                "Q4_K_M",
                "--device",
                "2x RTX 4090",
                "--strategy",
                "expert",
            ],
            "not a mixture-of-experts",
        ),
        (
            ["auto", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", "RTX 4090", "--time-limit", "-1"],
            "time-limit",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(args, needle):
    r = invoke(*args)
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)  # a handled error, not an exception escaping
    lines = [ln for ln in r.output.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, r.output
    assert needle.lower() in r.output.lower()


@pytest.mark.parametrize(
    "content",
    [
        "model: [unclosed",
        "just a string",
        "model: Llama 3 8B\nquant: Q4_K_M\ndevices: []\n",
        "model: Llama 3 8B\nquant: Q4_K_M\ndevices: [RTX 4090]\nflux_capacitor: 1\n",
    ],
)
def test_bad_problem_files(tmp_path, content):
    f = tmp_path / "p.yaml"
    f.write_text(content)
    r = invoke("analyze", str(f))
    assert r.exit_code == 2, r.output
    assert isinstance(r.exception, SystemExit)
    assert len(r.output.strip().splitlines()) == 1


@settings(max_examples=25, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_arbitrary_device_names_never_traceback(name):
    r = invoke("analyze", "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--device", name)
    assert r.exit_code in (0, 2), r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_zero_bandwidth_link_is_rejected():
    from catalog.schema import Link

    with pytest.raises(ValueError):
        Link(
            id="x",
            name="x",
            kind="ethernet",
            bandwidth_gb_s=0,
            latency_us=1,
            latency_sourced=False,
            sources=("s",),
        )


def test_analyze_strategy_auto_on_one_device_kind_with_known_measurements():
    r = invoke(
        "analyze", "--model", "Llama 3 8B", "--quant", "FP16", "--device", "RTX 4090", "--strategy", "auto", "--json"
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["strategy"] == "single device"
    assert data["benchmarks"], "the known RTX 4090 measurements are shown"


MEASUREMENT_HEADER = "source_id,device,device_count,model,quant,backend,batch,prompt_tokens,gen_tokens,metric,value"


def validate_csv(tmp_path, *lines: str, header: str = MEASUREMENT_HEADER, options: tuple[str, ...] = ()) -> dict:
    """`mlba validate --json` on a measurements file of ``lines`` under ``header``."""
    f = tmp_path / "m.csv"
    f.write_text("\n".join((header, *lines)) + "\n")
    r = invoke("validate", "--measurements", str(f), *options, "--json")
    assert r.exit_code == 0, r.output
    return json.loads(r.output)


def test_validate_own_csv_with_bad_rows(tmp_path):
    rows = validate_csv(
        tmp_path,
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,128",
        "mine,RTX 4090,0,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,128",
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,-5,128,decode_tok_s,128",
        "mine,Warp Core,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,128",
    )["rows"]
    assert rows[0]["status"] == "ok" and abs(rows[0]["ape"]) < 0.3
    assert [x["status"] for x in rows[1:]] == ["unmapped", "unmapped", "unmapped"]
    assert all(x["reason"] for x in rows[1:])


def test_validate_counts_multi_device_rows_when_the_count_column_has_blanks(tmp_path):
    """A blank in device_count makes pandas read the column as floats (2.0): the row still ran on two
    GPUs and belongs to the multi-device summary."""
    data = validate_csv(
        tmp_path,
        "mine,RTX 4090,,,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,128",
        "mine,RTX 4090,2,PCIe 4.0 x16,Llama 3 70B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,19",
        header=MEASUREMENT_HEADER.replace("device_count,", "device_count,interconnect,"),
    )
    assert [x["device_count"] for x in data["rows"]] == [1, 2]
    assert data["summary"]["multi_device"]["n"] == 1


def test_validate_reads_a_time_per_output_token_as_the_decode_rate(tmp_path):
    """TPOT 7.8 ms is 128.2 tok/s of one stream: scored against the predicted decode rate."""
    lines = (
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,tpot_ms,7.8",
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),1,0,128,decode_tok_s,128.2",
    )
    tpot, rate = validate_csv(tmp_path, *lines)["rows"]
    assert tpot["metric"] == "decode_tok_s" and tpot["measured"] == pytest.approx(128.2, abs=0.1)
    assert tpot["predicted"] == rate["predicted"] and tpot["ape"] == pytest.approx(rate["ape"], abs=1e-3)
    rows = validate_csv(tmp_path, *lines, options=("--metric", "decode_tok_s"))["rows"]
    assert len(rows) == 2, "a decode filter keeps the TPOT row"


def test_validate_reads_a_batched_tpot_as_the_batch_s_rate(tmp_path):
    """At batch 4, each stream's 20 ms per token is 200 tok/s for the batch: scored against the
    batch's predicted rate, like a batched decode_tok_s row."""
    tpot, rate = validate_csv(
        tmp_path,
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),4,0,128,tpot_ms,20",
        "mine,RTX 4090,1,Llama 3 8B,Q4_K_M,llama.cpp (CUDA),4,0,128,decode_tok_s,200",
    )["rows"]
    assert tpot["measured"] == pytest.approx(200.0) and tpot["predicted"] == rate["predicted"]


def test_validate_rejects_a_file_of_another_shape(tmp_path):
    f = tmp_path / "x.csv"
    f.write_text("a,b\n1,2\n")
    r = invoke("validate", "--measurements", str(f))
    assert r.exit_code == 2 and "calibration column format" in r.output
