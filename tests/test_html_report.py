"""`mlba report --html`: one self-contained, offline, read-only file whose user-visible names are escaped;
`mlba serve` binds to the local machine by default."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from optimizer.analyze import analyze
from optimizer.cli import main
from optimizer.problem import load_problem
from optimizer.report.html_report import html_report

PROBLEMS = Path(__file__).resolve().parents[1] / "problems"
CLUSTER = PROBLEMS / "m3-ultra-plus-rtx4090-10gbe.yaml"
HOSTILE = "<script>alert('x')</script>"


def test_report_cli_writes_a_self_contained_file(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", str(CLUSTER), "--html", str(out)])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html
    assert not re.search(r"""(src|href)=["']?https?://""", html)  # works offline
    assert "<script" not in html  # read-only: no scripts at all
    a = analyze(load_problem(CLUSTER))
    assert f"{a.system.decode_tok_s:,.1f}" in html
    for d in a.devices:
        assert d.name in html


def test_report_escapes_names() -> None:
    a = analyze(load_problem(CLUSTER))
    hostile = a.model_copy(
        update={
            "model": HOSTILE,
            "warnings": [HOSTILE],
            "devices": [d.model_copy(update={"name": HOSTILE}) for d in a.devices],
        }
    )
    html = html_report(hostile)
    assert HOSTILE not in html and "&lt;script&gt;" in html


def test_report_bad_problem_is_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("model: Lama 3 8B\nquant: Q4_K_M\ndevices: [RTX 4090]\n")
    r = CliRunner().invoke(main, ["report", str(bad), "--html", str(tmp_path / "r.html")])
    assert r.exit_code != 0 and "did you mean" in r.output.lower() and "Traceback" not in r.output
    assert not (tmp_path / "r.html").exists()


def test_serve_binds_to_localhost_by_default() -> None:
    params = {p.name: p for p in main.commands["serve"].params}
    assert params["host"].default == "127.0.0.1"


def test_report_to_an_unwritable_path_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["report", str(CLUSTER), "--html", str(tmp_path / "missing" / "r.html")])
    assert r.exit_code == 2 and "cannot write" in r.output and "Traceback" not in r.output


def test_report_with_auto_lists_the_alternatives(tmp_path: Path) -> None:
    from optimizer.solve.auto import auto

    out = tmp_path / "r.html"
    r = CliRunner().invoke(main, ["report", str(CLUSTER), "--html", str(out), "--auto"])
    assert r.exit_code == 0, r.output
    html = out.read_text()
    result = auto(load_problem(CLUSTER), "decode")
    assert "<h2>AUTO</h2>" in html and f"Selected {result.chosen}" in html
    for alt in result.alternatives:
        assert alt.strategy in html
    assert "<script" not in html
