"""Scenarios: save and share round trips are exact; bad share strings fail clearly; compare."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.analyze import analyze
from optimizer.cli import main
from optimizer.problem import DeviceSpec, Problem, ProblemError, Workload, load_problem
from optimizer.scenario import from_share, save, share_string

ROOT = Path(__file__).parents[1]
PROBLEMS = [p for p in sorted((ROOT / "problems").glob("*.yaml")) if "ask:" not in p.read_text()]


@pytest.mark.parametrize("path", PROBLEMS, ids=lambda p: p.stem)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_save_then_analyze_reads_back_the_same_question(tmp_path, path, suffix):
    p = load_problem(path)
    out = tmp_path / f"saved{suffix}"
    save(p, out)
    again = load_problem(out)
    assert again.model_dump(exclude={"expect"}) == p.model_dump(exclude={"expect"})
    assert analyze(again, evidence=False) == analyze(p, evidence=False)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(["Llama 3 8B", "Qwen3-30B-A3B", "DeepSeek R1"]),
    st.sampled_from(["Q4_K_M", "MLX 4-bit", "FP16"]),
    st.lists(st.sampled_from(["RTX 4090", "M3 Ultra 512GB", "2x H100 SXM"]), min_size=1, max_size=3),
    st.integers(0, 100_000),
    st.integers(1, 4096),
)
def test_share_round_trip(model, quant, devices, prompt, gen):
    p = Problem(
        model=model,
        quant=quant,
        devices=[DeviceSpec.parse(d) for d in devices],
        workload=Workload(prompt_tokens=prompt, gen_tokens=gen),
    )
    s = share_string(p)
    assert s.startswith("mlba1.") and all(c.isalnum() or c in "-_." for c in s)
    assert from_share(s) == p


@pytest.mark.parametrize("bad", ["", "hello", "mlba1.", "mlba1.!!!", "mlba1.eNpLTA"])
def test_bad_share_strings(bad):
    with pytest.raises(ProblemError):
        from_share(bad)


def test_share_string_with_invalid_content_is_rejected():
    import base64
    import zlib

    body = base64.urlsafe_b64encode(zlib.compress(b'{"model": "x"}')).decode()
    with pytest.raises(ProblemError, match="share string"):
        from_share("mlba1." + body)


def test_cli_share_and_compare(tmp_path):
    r = CliRunner().invoke(main, ["share", str(ROOT / "problems/rtx4090-llama3-8b.yaml")])
    assert r.exit_code == 0
    r2 = CliRunner().invoke(main, ["analyze", "--from-share", r.output.strip(), "--gen-tokens", "64", "--json"])
    assert r2.exit_code == 0, r2.output
    assert json.loads(r2.output)["workload"]["gen_tokens"] == 64
    svg = tmp_path / "c.svg"
    r3 = CliRunner().invoke(
        main,
        [
            "compare",
            str(ROOT / "problems/rtx4090-llama3-8b.yaml"),
            str(ROOT / "problems/2x-rtx3090-llama3-70b-q4.yaml"),
            "--json",
            "--plot",
            str(svg),
        ],
    )
    assert r3.exit_code == 0, r3.output
    rows = json.loads(r3.output)
    assert [r["scenario"] for r in rows] == ["rtx4090-llama3-8b", "2x-rtx3090-llama3-70b-q4"]
    assert {
        "decode_tok_s",
        "prefill_tok_s",
        "ttft_s",
        "price_usd",
        "power_w",
        "cost_per_day_usd",
        "tokens_per_usd",
    } <= set(rows[0])
    assert "rtx4090-llama3-8b" in svg.read_text()


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        ("min-hardware", ["--target-decode", "60"]),
        ("recommend", ["--budget", "3000", "--power-cap", "500"]),
    ],
)
@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_hardware_save_reads_back_the_same_answer(tmp_path, command, flags, suffix):
    saved = tmp_path / f"ask{suffix}"
    base = [command, "--model", "Llama 3 8B", "--quant", "Q4_K_M", "--from", "RTX 4090,RTX 3090", *flags]
    first = CliRunner().invoke(main, [*base, "--json", "--save", str(saved)])
    assert first.exit_code == 0, first.output
    again = CliRunner().invoke(main, [command, str(saved), "--json"])
    assert again.exit_code == 0, again.output
    a, b = json.loads(first.output), json.loads(again.output)
    a.pop("solver", None), b.pop("solver", None)
    assert a == b
