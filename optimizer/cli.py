"""The `mlba` command line: thin commands that parse, call the library and render.

Examples:
    mlba analyze problems/rtx4090-llama3-8b.yaml
    mlba analyze --model "Llama 3 70B" --quant FP16 --device "2x H100 SXM" --json
    mlba catalog devices
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

EXIT_BAD_INPUT = 2


class UserError(click.ClickException):
    """One-line error, exit code 2, no traceback."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {self.message}", err=True)


def _fail_on_user_errors(fn):  # type: ignore[no-untyped-def]
    """Turn domain errors (bad names, bad numbers, unreadable files) into UserError."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from catalog.resolve import UnknownNameError
        from optimizer.problem import ProblemError

        try:
            return fn(*args, **kwargs)
        except (ProblemError, UnknownNameError) as exc:
            raise UserError(str(exc)) from None

    return wrapper


class OneLineErrors(click.Group):
    """Usage errors (bad option values, unknown options) as one line with a hint, exit code 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        standalone = kwargs.get("standalone_mode", True)
        try:
            return super().main(*args, **{**kwargs, "standalone_mode": False})
        except click.exceptions.UsageError as exc:
            if not standalone:
                raise
            cmd = exc.ctx.command_path if exc.ctx else "mlba"
            click.echo(f"Error: {exc.format_message()} (see `{cmd} --help`)", err=True)
            sys.exit(EXIT_BAD_INPUT)
        except click.exceptions.ClickException as exc:
            if not standalone:
                raise
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            if not standalone:
                raise
            click.echo("Aborted!", err=True)
            sys.exit(1)


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mlba")
def main() -> None:
    """ML Bottleneck Analyzer: plan LLM inference on real hardware.

    \b
    mlba analyze problems/rtx4090-llama3-8b.yaml
    mlba analyze --model "Llama 3 8B" --quant Q4_K_M --device "RTX 4090"
    mlba analyze --model "Llama 3 70B" --quant FP16 --device "2x H100" --json
    mlba catalog devices --json
    """


def _overrides(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {}
    workload: dict[str, Any] = {}
    cost: dict[str, Any] = {}
    for key in (
        "model",
        "quant",
        "runtime",
        "link",
        "strategy",
        "kv_quant",
        "topology",
        "rdma",
        "flash_attention",
        "ubatch",
    ):
        if kw.get(key) is not None:
            data[key] = kw[key]
    if kw.get("device"):
        data["devices"] = list(kw["device"])
    if kw.get("layers"):
        try:
            data["layers"] = [int(x) for x in kw["layers"].split(",")]
        except ValueError:
            raise UserError(f"--layers {kw['layers']!r}: expected comma-separated integers") from None
    for key, field in (
        ("prompt_tokens", "prompt_tokens"),
        ("gen_tokens", "gen_tokens"),
        ("batch", "batch"),
        ("context", "context"),
    ):
        if kw.get(key) is not None:
            workload[field] = kw[key]
    for key in ("price_kwh", "hours_per_day"):
        if kw.get(key) is not None:
            cost[key] = kw[key]
    if workload:
        data["workload"] = workload
    if cost:
        data["cost"] = cost
    return data


def build_problem(problem_file: str | None, **kw: Any):  # type: ignore[no-untyped-def]
    """A Problem from an optional file with command-line flags overriding it."""
    import yaml

    from optimizer.problem import ProblemError, problem_from_dict

    base: dict[str, Any] = {}
    if problem_file:
        path = Path(problem_file)
        try:
            base = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise UserError(f"cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark else ""
            raise UserError(f"{path}: malformed YAML{where}; check indentation and quoting") from None
        if not isinstance(base, dict):
            raise UserError(f"{path}: expected a mapping with model, quant and devices")
    over = _overrides(**kw)
    for key in ("workload", "cost"):
        if key in over and isinstance(base.get(key), dict):
            over[key] = {**base[key], **over[key]}
    data = {**base, **over}
    for key in ("model", "quant", "devices"):
        if key not in data:
            flag = "--device" if key == "devices" else f"--{key}"
            raise UserError(f"missing {key}: give {flag} or a problem file")
    try:
        return problem_from_dict(data, problem_file or "command line")
    except ProblemError as exc:
        raise UserError(str(exc)) from None


def problem_options(fn):  # type: ignore[no-untyped-def]
    opts = [
        click.argument("problem_file", required=False, type=click.Path(dir_okay=False)),
        click.option("--model", "-m", help='Model name or id, e.g. "Llama 3 8B".'),
        click.option("--quant", "-q", help="Quantization, e.g. Q4_K_M, FP16, MLX 4-bit."),
        click.option("--device", "-d", multiple=True, help='Device, repeatable; "2x RTX 4090" for counts.'),
        click.option("--link", help="Link kind for every edge, e.g. 10GbE, TB5 RDMA, NVLink 4."),
        click.option("--topology", type=click.Choice(["chain", "ring", "mesh", "star"]), help="Link preset."),
        click.option("--rdma", is_flag=True, default=None, help="Macs on Thunderbolt 5 use RDMA (macOS 26.2+)."),
        click.option(
            "--strategy",
            type=click.Choice(["pipeline", "auto", "exo", "tensor", "tp-pp", "data", "expert", "context", "pd-split"]),
            help="Parallelism strategy (default pipeline; auto = let the solver choose).",
        ),
        click.option("--runtime", "-r", help="Runtime, e.g. llama.cpp, MLX, vLLM."),
        click.option("--layers", help="Layers per device in chain order, e.g. 40,40."),
        click.option("--prompt-tokens", type=int, help="Prompt length (default 512)."),
        click.option("--gen-tokens", type=int, help="Generated tokens (default 128)."),
        click.option("--batch", type=int, help="Concurrent sequences (default 1)."),
        click.option("--context", type=int, help="KV cache reserved per sequence (default prompt+gen)."),
        click.option("--kv-quant", type=click.Choice(["fp16", "bf16", "fp8", "q8_0", "q4_0"])),
        click.option(
            "--flash-attention/--no-flash-attention",
            default=None,
            help="Fused attention (default on; off = llama.cpp -fa 0, slower prefill at long prompts).",
        ),
        click.option("--ubatch", type=int, help="Prompt tokens per prefill micro-batch (llama.cpp -ub, default 512)."),
        click.option("--price-kwh", type=float, help="Electricity price, USD per kWh (default 0.15)."),
        click.option("--hours-per-day", type=float, help="Hours a day under load (default 24)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
        click.option("--save", type=click.Path(dir_okay=False), help="Save the full problem (.yaml or .json)."),
        click.option("--from-share", "from_share", help="Read the problem from an `mlba share` string."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _problem_with_scenario(problem_file: str | None, kw: dict[str, Any]):  # type: ignore[no-untyped-def]
    """Build the problem (a file, a share string, flags), and save it when asked."""
    from optimizer import scenario
    from optimizer.problem import problem_from_dict

    save_to = kw.pop("save", None)
    share_text = kw.pop("from_share", None)
    if share_text:
        base = scenario.from_share(share_text)
        over = _overrides(**kw)
        for key in ("workload", "cost"):
            if key in over:
                over[key] = {**scenario.problem_data(base).get(key, {}), **over[key]}
        problem = problem_from_dict({**scenario.problem_data(base), **over}, "share string")
    else:
        problem = build_problem(problem_file, **kw)
    if save_to:
        scenario.save(problem, save_to)
        click.echo(f"saved {save_to}", err=True)
    return problem


def _console():  # type: ignore[no-untyped-def]
    """A rich console; wide when writing to a file or pipe so tables are not squeezed."""
    from rich.console import Console

    return Console(soft_wrap=True, width=None if sys.stdout.isatty() else 180)


@main.command()
@problem_options
@_fail_on_user_errors
def analyze(problem_file: str | None, as_json: bool, **kw: Any) -> None:
    """Predict decode/prefill rates, TTFT, memory fit, bottlenecks, power and cost.

    \b
    Example usage:
      mlba analyze problems/rtx4090-llama3-8b.yaml
      mlba analyze --model "Llama 3 8B" --quant Q4_K_M --device "RTX 4090"
      mlba analyze problems/h100-llama3-70b-fp16.yaml --device "2x H100 SXM" --json
    """
    from optimizer.analyze import analyze as run

    problem = _problem_with_scenario(problem_file, kw)
    result = run(problem)
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    from optimizer.report.analysis_table import render_analysis

    render_analysis(result, _console())


@main.command()
@problem_options
@click.option(
    "--objective",
    type=click.Choice(["decode", "prefill", "ttft", "latency", "throughput", "tokens-per-watt", "cost"]),
    default="decode",
    show_default=True,
    help="What the chosen plan optimises.",
)
@click.option(
    "--time-limit", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="Solver time limit, seconds."
)
@_fail_on_user_errors
def auto(problem_file: str | None, as_json: bool, objective: str, time_limit: float, **kw: Any) -> None:
    """Choose the parallel strategy and placement: every strategy tried, the best one explained.

    \b
    Example usage:
      mlba auto problems/m3-ultra-plus-rtx4090-10gbe.yaml
      mlba auto --model "Llama 3 70B" --quant FP16 --device "4x H100 SXM" --runtime vLLM
      mlba auto --model "Kimi K2" --quant "MLX 4-bit" --device "4x M3 Ultra 512GB" \\
                --link "TB5 RDMA" --runtime EXO
    """
    from optimizer.solve.auto import auto as run
    from optimizer.solve.placement import SolverSettings

    kw.pop("strategy", None)
    problem = _problem_with_scenario(problem_file, kw)
    result = run(problem, objective, SolverSettings(time_limit_s=time_limit))  # type: ignore[arg-type]
    if as_json:
        click.echo(result.model_dump_json(indent=2))
        return
    from optimizer.report.auto_table import render_auto

    render_auto(result, _console())


@main.command()
@click.option("--measurements", "measurements", type=click.Path(dir_okay=False), help="CSV in calibration.csv columns.")
@click.option("--source", help="Only rows whose source_id contains this text.")
@click.option("--device", help="Only rows whose device name contains this text.")
@click.option(
    "--metric",
    type=click.Choice(["decode_tok_s", "prefill_tok_s", "ttft_s", "total_throughput_tok_s", "tpot_ms"]),
    help="Only rows of this metric (decode_tok_s includes the TPOT rows, read as decode rates).",
)
@click.option("--cv", is_flag=True, help="Also cross-validate: leave one source out, leave one device family out.")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write per-row results to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@_fail_on_user_errors
def validate(
    measurements: str | None,
    source: str | None,
    device: str | None,
    metric: str | None,
    cv: bool,
    csv_out: str | None,
    as_json: bool,
) -> None:
    """Compare predictions with measured results (built-in database, or your own CSV).

    \b
    Example usage:
      mlba validate
      mlba validate --source S01 --metric decode_tok_s
      mlba validate --measurements my_runs.csv --csv out.csv
      mlba validate --cv
    """
    from optimizer.validate import builtin_measurements, cross_validate
    from optimizer.validate import validate as run

    if measurements:
        from optimizer.measurements import load_measurements

        try:
            df = load_measurements(measurements)
        except (OSError, ValueError) as exc:
            raise UserError(f"cannot read measurements {measurements}: {exc}") from None
    else:
        df = builtin_measurements()
    report = run(df, source=source, device=device, metric=metric)
    if csv_out:
        report.frame().to_csv(csv_out, index=False)
    cv_results = []
    if cv:
        from optimizer.validate import _filter

        sub = _filter(df, source, device, metric)
        progress = None if as_json else (lambda msg: click.echo(msg, err=True))
        cv_results = [cross_validate(sub, by, progress) for by in ("source", "family")]
    if as_json:
        data = report.model_dump(mode="json")
        if cv_results:
            data["cv"] = [c.model_dump(mode="json") for c in cv_results]
        click.echo(json.dumps(data, indent=1))
        return
    from optimizer.report.validation_table import render_cv, render_validation

    console = _console()
    render_validation(report, console)
    for c in cv_results:
        render_cv(c, console)


@main.command()
@problem_options
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["ascii", "mermaid", "dot", "svg", "png"]),
    default="ascii",
    show_default=True,
    help="Diagram format.",
)
@click.option("--out", type=click.Path(dir_okay=False), help="Write to this file (required for png).")
@_fail_on_user_errors
def topology(problem_file: str | None, as_json: bool, fmt: str, out: str | None, **kw: Any) -> None:
    """Draw the devices, their layers and roles, and the links between them.

    \b
    Example usage:
      mlba topology problems/m3-ultra-plus-rtx4090-10gbe.yaml
      mlba topology --model "Llama 3 70B" --quant Q4_K_M --device "4x RTX 3090" --topology ring --format mermaid
      mlba topology problems/8x-m4-pro-llama3-70b-tb5.yaml --format svg --out cluster.svg
    """
    from optimizer.analyze import analyze as run
    from optimizer.report.diagram import render

    problem = _problem_with_scenario(problem_file, kw)
    result = run(problem, evidence=False)
    drawing = render(result, fmt)
    if out:
        mode = "wb" if isinstance(drawing, bytes) else "w"
        with open(out, mode) as f:
            f.write(drawing)
        click.echo(f"wrote {out}", err=True)
    elif isinstance(drawing, bytes):
        raise UserError("png needs --out FILE")
    else:
        click.echo(drawing)


@main.command("exo-plan")
@click.argument("state_file", type=click.Path(dir_okay=False))
@click.option("--model", "-m", required=True, help="Model to place.")
@click.option("--quant", "-q", default="MLX 4-bit", show_default=True, help="Quantization.")
@click.option("--prompt-tokens", type=click.IntRange(0), default=512, show_default=True)
@click.option("--gen-tokens", type=click.IntRange(1), default=128, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@_fail_on_user_errors
def exo_plan_cmd(state_file: str, model: str, quant: str, prompt_tokens: int, gen_tokens: int, as_json: bool) -> None:
    """What EXO would place on a cluster snapshot, beside the optimal plan.

    \b
    Example usage:
      mlba exo-plan problems/exo-4x-m3-ultra-rdma.json --model "Qwen3-235B-A22B" --quant "MLX 8-bit"
      mlba exo-plan problems/exo-mixed-macs.json --model "Llama 3.3 70B" --json
    """
    from optimizer.exo_import import exo_plan, load_state
    from optimizer.problem import Workload

    state = load_state(state_file)
    plan = exo_plan(state, model, quant, Workload(prompt_tokens=prompt_tokens, gen_tokens=gen_tokens))
    if as_json:
        click.echo(plan.model_dump_json(indent=2))
        return
    from optimizer.report.auto_table import render_auto

    console = _console()
    if plan.exo is not None:
        used = [f"{d.name}: {d.layers} layers" for d in plan.exo.devices if d.layers]
        console.print(
            f"[bold]EXO[/] would run {plan.exo.strategy} on {', '.join(used)} "
            f"-> {plan.exo.system.decode_tok_s:.1f} tok/s ({plan.exo_reason})"
        )
    else:
        console.print(f"[bold]EXO[/] cannot place it: {plan.exo_reason}")
    console.print(f"[bold]Gain:[/] {plan.gain}")
    render_auto(plan.auto, console)


@main.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@_fail_on_user_errors
def share(problem_file: str) -> None:
    """Print a compact, URL-safe string that carries a problem (read it with --from-share).

    \b
    Example usage:
      mlba share problems/rtx4090-llama3-8b.yaml
      mlba analyze --from-share "$(mlba share problems/rtx4090-llama3-8b.yaml)"
    """
    from optimizer import scenario
    from optimizer.problem import load_problem

    click.echo(scenario.share_string(load_problem(problem_file)))


@main.command()
@click.argument("problem_files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--plot", type=click.Path(dir_okay=False), help="Write a bar chart of decode rates (SVG).")
@click.option("--csv", "csv_out", type=click.Path(dir_okay=False), help="Write the table as CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@_fail_on_user_errors
def compare(problem_files: tuple[str, ...], plot: str | None, csv_out: str | None, as_json: bool) -> None:
    """Compare scenarios side by side: rates, TTFT, price, power, cost, tokens per dollar.

    \b
    Example usage:
      mlba compare problems/rtx4090-llama3-8b.yaml problems/m2-ultra-llama3-70b-q4.yaml
      mlba compare problems/*.yaml --plot compare.svg
    """
    from optimizer import scenario
    from optimizer.analyze import analyze as run
    from optimizer.problem import load_problem

    problems = [load_problem(f) for f in problem_files]
    df = scenario.compare_frame([Path(f).stem for f in problem_files], [run(p, evidence=False) for p in problems])
    if plot:
        Path(plot).write_text(scenario.compare_svg(df), encoding="utf-8")
    if csv_out:
        df.to_csv(csv_out, index=False)
    if as_json:
        click.echo(df.to_json(orient="records", indent=1))
        return
    from rich.table import Table

    t = Table(title="Scenarios", title_justify="left", show_edge=False)
    cols = [
        "scenario",
        "fits",
        "decode_tok_s",
        "prefill_tok_s",
        "ttft_s",
        "price_usd",
        "power_w",
        "cost_per_day_usd",
        "tokens_per_usd",
    ]
    for c in cols:
        t.add_column(c.replace("_", " "))
    for row in df.to_dict(orient="records"):
        t.add_row(*(f"{row[c]:,.4g}" if isinstance(row[c], float) else str(row[c]) for c in cols))
    _console().print(t)


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8765, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (local only by default).")
def serve(port: int, host: str) -> None:
    """Run the dashboard in your browser (http://127.0.0.1:8765).

    \b
    Example usage:
      mlba serve
      mlba serve --port 9000
    """
    import uvicorn

    from optimizer.web.app import create_app

    click.echo(f"mlba dashboard on http://{host}:{port}  (Ctrl+C to stop)", err=True)
    uvicorn.run(create_app(), host=host, port=port, log_level="warning")


@main.command()
@click.argument("problem_file", type=click.Path(dir_okay=False))
@click.option("--html", "html_out", required=True, type=click.Path(dir_okay=False), help="Write the report here.")
@click.option("--auto", "with_auto", is_flag=True, help="Also run AUTO and include its alternatives.")
@_fail_on_user_errors
def report(problem_file: str, html_out: str, with_auto: bool) -> None:
    """Write one self-contained HTML report of a problem (works offline).

    \b
    Example usage:
      mlba report problems/m3-ultra-plus-rtx4090-10gbe.yaml --html report.html
      mlba report problems/8x-m4-pro-llama3-70b-tb5.yaml --html report.html --auto
    """
    from optimizer.analyze import analyze as run
    from optimizer.problem import load_problem
    from optimizer.report.html_report import html_report

    problem = load_problem(problem_file)
    a = run(problem)
    auto_result = None
    if with_auto:
        from optimizer.solve.auto import auto as run_auto

        auto_result = run_auto(problem, "decode")
    try:
        Path(html_out).write_text(html_report(a, auto_result), encoding="utf-8")
    except OSError as exc:
        raise UserError(f"cannot write {html_out}: {exc.strerror or exc}") from None
    click.echo(f"wrote {html_out}", err=True)


def _hardware_options(fn):  # type: ignore[no-untyped-def]
    opts = [
        click.argument("ask_file", required=False, type=click.Path(dir_okay=False)),
        click.option("--model", "-m", help="Model name or id."),
        click.option("--quant", "-q", help="Quantization."),
        click.option("--runtime", "-r", help="Runtime (default: the usual one for the quant and device)."),
        click.option(
            "--from",
            "from_devices",
            help='Candidate devices, comma-separated ("RTX 4090,RTX 3090,M3 Ultra").',
        ),
        click.option("--budget", type=float, help="Budget, USD (purchase price of the devices)."),
        click.option("--power-cap", type=float, help="Power cap, W (average while serving)."),
        click.option("--max-devices", type=click.IntRange(1, 64), help="Most devices in a plan (default 8)."),
        click.option("--link", help="Link between devices (default: inferred from the device kind)."),
        click.option("--prompt-tokens", type=click.IntRange(0), help="Prompt length (default 512)."),
        click.option("--gen-tokens", type=click.IntRange(1), help="Generated tokens (default 128)."),
        click.option("--concurrency", type=click.IntRange(1), help="Concurrent streams: the target is total tok/s."),
        click.option("--pareto", is_flag=True, help="Also list the price/decode Pareto front."),
        click.option("--plot", type=click.Path(dir_okay=False), help="Write the Pareto front as SVG (or CSV)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables."),
        click.option("--save", type=click.Path(dir_okay=False), help="Save the full question (.yaml or .json)."),
    ]
    for opt in reversed(opts):
        fn = opt(fn)
    return fn


def _run_hardware(
    ask_name: str, ask_file: str | None, as_json: bool, pareto: bool, plot: str | None, **kw: Any
) -> None:
    import yaml
    from pydantic import ValidationError

    from optimizer.problem import validation_one_line
    from optimizer.solve.hardware import HardwareAsk, answer

    data: dict[str, Any] = {}
    if ask_file:
        try:
            data = yaml.safe_load(Path(ask_file).read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise UserError(f"cannot read {ask_file}: {exc}") from None
        if not isinstance(data, dict):
            raise UserError(f"{ask_file}: expected a mapping with ask, model and quant")
    data["ask"] = ask_name
    for key in ("model", "quant", "runtime", "link"):
        if kw.get(key):
            data[key] = kw[key]
    if kw.get("from_devices"):
        data["from_devices"] = [x.strip() for x in kw["from_devices"].split(",") if x.strip()]
    for key, field in (
        ("budget", "budget_usd"),
        ("power_cap", "power_cap_w"),
        ("max_devices", "max_devices"),
        ("target_decode", "target_decode"),
        ("goal", "goal"),
    ):
        if kw.get(key) is not None:
            data[field] = kw[key]
    workload = dict(data.get("workload") or {})
    for key, field in (
        ("prompt_tokens", "prompt_tokens"),
        ("gen_tokens", "gen_tokens"),
        ("concurrency", "batch"),
    ):
        if kw.get(key) is not None:
            workload[field] = kw[key]
    data["workload"] = workload
    for key in ("model", "quant"):
        if key not in data:
            raise UserError(f"missing {key}: give --{key} or a problem file")
    try:
        ask = HardwareAsk.model_validate(data)
    except ValidationError as exc:
        raise UserError(validation_one_line(exc, root="", limit=1)) from None
    if kw.get("save"):
        from optimizer.scenario import save

        save(ask, kw["save"])
    progress = None if as_json else (lambda msg: click.echo(msg, err=True))
    ans = answer(ask, progress)
    if plot:
        from optimizer.report.hardware_table import write_pareto

        write_pareto(ans, plot)
    if as_json:
        click.echo(ans.model_dump_json(indent=2))
        return
    from optimizer.report.hardware_table import render_hardware

    render_hardware(ans, _console(), pareto)


@main.command("min-hardware")
@_hardware_options
@click.option(
    "--target-decode",
    type=float,
    help="Decode rate to reach, tok/s (per stream, or total with --concurrency).",
)
@_fail_on_user_errors
def min_hardware_cmd(ask_file: str | None, as_json: bool, pareto: bool, plot: str | None, **kw: Any) -> None:
    """The cheapest hardware from the catalog that reaches a target decode rate.

    \b
    Example usage:
      mlba min-hardware --model "Llama 3 70B" --quant Q4_K_M --target-decode 20
      mlba min-hardware --model "Llama 3 70B" --quant AWQ --runtime vLLM --target-decode 30 --from "RTX 4090,RTX 3090"
      mlba min-hardware problems/min-hardware-llama3-70b-50toks.yaml --pareto --plot front.svg
    """
    _run_hardware("min-hardware", ask_file, as_json, pareto, plot, **kw)


@main.command()
@_hardware_options
@click.option(
    "--objective",
    "goal",
    type=click.Choice(["decode", "tokens-per-usd", "tokens-per-watt"]),
    help="What to maximise (default decode).",
)
@_fail_on_user_errors
def recommend(ask_file: str | None, as_json: bool, pareto: bool, plot: str | None, **kw: Any) -> None:
    """The best hardware within a budget (and a power cap) from the catalog.

    \b
    Example usage:
      mlba recommend --model "Llama 3 70B" --quant Q4_K_M --budget 5000
      mlba recommend --model "Qwen3-30B-A3B" --quant Q4_K_M --budget 3000 --power-cap 400 --objective tokens-per-watt
      mlba recommend --model "Llama 3 8B" --quant Q4_K_M --budget 2000 --pareto --plot front.svg
    """
    if kw.get("budget") is None and not ask_file:
        raise UserError("recommend needs --budget (USD)")
    _run_hardware("recommend", ask_file, as_json, pareto, plot, **kw)


@main.command()
@click.argument("section", type=click.Choice(["devices", "models", "links", "quants", "runtimes"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--search", "-s", help="Only entries whose name or id contains this text.")
def catalog(section: str, as_json: bool, search: str | None) -> None:
    """List catalog entries: devices, models, links, quants or runtimes.

    \b
    Example usage:
      mlba catalog devices --search "M3"
      mlba catalog models --json
    """
    from optimizer.report.catalog_table import catalog_frame, render_catalog

    df = catalog_frame(section, search)
    if as_json:
        click.echo(json.dumps(df.to_dict(orient="records"), indent=1, default=str))
        return
    render_catalog(section, df, _console())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
