"""Public API: analyze a problem.

>>> from optimizer.analyze import analyze
>>> from optimizer.problem import Problem
>>> a = analyze(Problem(model="Llama 3 8B", quant="Q4_K_M", devices=["RTX 4090"]))
>>> round(a.system.decode_tok_s) > 0
True
"""

from __future__ import annotations

from optimizer.perf.memory import usable_memory_gb
from optimizer.perf.pipeline import evaluate_pipeline
from optimizer.perf.placement import PlacementError, largest_remainder_split
from optimizer.problem import Problem, ProblemError, ResolvedProblem, resolve
from optimizer.results import Analysis


def default_layers(rp: ResolvedProblem) -> list[int]:
    """Layers per device when the problem gives none: one device takes all; several split in
    proportion to usable memory (EXO's rule, exo.md 1.4)."""
    if len(rp.devices) == 1:
        return [rp.model.layers]
    weights = [usable_memory_gb(i.device, i.memory_gb) for i in rp.devices]
    try:
        return largest_remainder_split(rp.model.layers, weights)
    except PlacementError as exc:
        raise ProblemError(f"{exc}; use fewer devices") from None


def analyze_resolved(rp: ResolvedProblem, evidence: bool = True) -> Analysis:
    strategy = rp.problem.strategy
    if strategy != "pipeline":
        return _analyze_strategy(rp, strategy, evidence)
    layers = list(rp.problem.layers) if rp.problem.layers is not None else default_layers(rp)
    if sum(layers) != rp.model.layers:
        raise ProblemError(f"layers sum to {sum(layers)} but {rp.model.name} has {rp.model.layers}")
    a = evaluate_pipeline(rp, layers, strategy=strategy)
    if not evidence:
        return a
    from optimizer.advice import link_upgrade

    return with_evidence(rp, a).model_copy(update={"link_upgrade": link_upgrade(rp, a)})


def _analyze_strategy(rp: ResolvedProblem, strategy: str, evidence: bool) -> Analysis:
    """Analyze a named strategy (or AUTO's choice) through the solver's candidate builders."""
    from optimizer.perf.plan import evaluate_plan
    from optimizer.solve import candidates as cb
    from optimizer.solve.auto import auto_resolved

    if strategy == "auto":
        return auto_resolved(rp, evidence=evidence).analysis
    builders = {
        "exo": lambda: [cb.exo_candidate(rp)],
        "tensor": lambda: [cb.tensor_candidate(rp)],
        "tp-pp": lambda: cb.tp_pp_candidates(rp),
        "data": lambda: cb.data_parallel_candidates(rp),
        "expert": lambda: [cb.expert_candidate(rp)],
        "context": lambda: [cb.context_candidate(rp)],
        "pd-split": lambda: [cb.pd_split_candidate(rp)],
    }
    cands = builders[strategy]()
    valid = [c for c in cands if c.spec is not None]
    if not valid:
        reason = cands[0].invalid_reason if cands else "no candidate"
        raise ProblemError(f"strategy {strategy} is not possible here: {reason}; try --strategy auto")
    results = [evaluate_plan(c.rp, c.spec) for c in valid]  # type: ignore[arg-type]
    best = max(range(len(valid)), key=lambda i: (results[i].fits, results[i].system.decode_tok_s))
    return with_evidence(valid[best].rp, results[best]) if evidence else results[best]


def with_evidence(rp: ResolvedProblem, a: Analysis) -> Analysis:
    """Add uncertainty bands and the nearest known measurements of the same setup."""
    from optimizer import evidence
    from optimizer.perf.efficiency import runtime_key

    slowest = max(a.devices, key=lambda d: d.decode_step_ms)
    inst = rp.devices[slowest.index]
    rk, fam = runtime_key(inst.runtime, inst.device), inst.device.family
    s = a.system
    bands = {
        "decode_tok_s": evidence.band("decode_tok_s", rk, fam, s.decode_tok_s),
        "prefill_tok_s": evidence.band("prefill_tok_s", rk, fam, s.prefill_tok_s),
        "ttft_s": evidence.band("ttft_s", rk, fam, s.ttft_s),
    }
    found = []
    if len({i.device.id for i in rp.devices}) == 1 and rp.problem.layers is None:
        rows = evidence.matching_measurements(
            inst.device.id, len(rp.devices), rp.model.id, rp.quant.id, rp.runtime.engine
        )
        w = rp.problem.workload
        for metric in ("decode_tok_s", "prefill_tok_s", "ttft_s"):
            for r in evidence.nearest(rows, metric, w.prompt_tokens, w.gen_tokens, w.batch, n=2):
                found.append(evidence.to_measurement(r, _predict_row(rp, r)))
    return a.model_copy(update={"uncertainty": bands, "benchmarks": found})


def _predict_row(rp: ResolvedProblem, r: dict[str, str]) -> float:
    """The engine's figure for the workload of an indexed measurement row."""
    from dataclasses import replace

    from optimizer.problem import Workload

    prompt = int(float(r["prompt_tokens"] or 0))
    batch = int(r["batch"])
    if r["metric"] == "decode_tok_s":
        w = Workload(prompt_tokens=prompt, gen_tokens=max(1, int(float(r["gen_tokens"] or 1))), batch=batch)
    else:
        w = Workload(
            prompt_tokens=max(1, prompt),
            gen_tokens=1,
            batch=batch,
            cached_tokens=int(float(r["cached_tokens"] or 0)),
        )
    settings = {"flash_attention": r["flash_attention"] == "1", "ubatch": int(r["ubatch"])}  # as the row ran
    other = replace(
        rp, problem=rp.problem.model_copy(update={"workload": w, "layers": None, "strategy": "pipeline", **settings})
    )
    a = analyze_resolved(other, evidence=False)
    if r["metric"] == "decode_tok_s":
        return a.system.decode_tok_s_total if batch > 1 else a.system.decode_tok_s
    return a.system.prefill_tok_s if r["metric"] == "prefill_tok_s" else a.system.ttft_s


def analyze(problem: Problem, evidence: bool = True) -> Analysis:
    """Predict rates, memory, bottlenecks, power and cost for ``problem``; with ``evidence``, add
    uncertainty bands and the nearest known measurements of the same setup."""
    return analyze_resolved(resolve(problem), evidence=evidence)
