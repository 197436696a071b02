"""Time the CP-SAT pipeline placement, with exhaustive search as the baseline where it still runs.

Run: python benchmarks/time_placement.py
Cases: 3 heterogeneous devices (exhaustive search also runs: the ratio is printed), 8 heterogeneous
devices x 80 layers (aim: proved optimal in < 2 s), 64 devices x 126 layers (aim: a plan with proved
optimality or a reported gap in < 10 s).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.perf.plan import PlanSpec, evaluate_plan
from optimizer.problem import DeviceSpec, Problem, Workload, resolve
from optimizer.solve.placement import SolverSettings, exhaustive_best_decode, solve_placement


def timed(label: str, p: Problem, settings: SolverSettings, brute: bool = False) -> None:
    rp = resolve(p)
    t0 = time.perf_counter()
    pl = solve_placement(rp, settings=settings)
    t_solve = time.perf_counter() - t0
    line = (
        f"{label:38s} {len(rp.devices):3d} devices x {rp.model.layers:3d} layers: {t_solve:6.2f} s, "
        f"{pl.solver.status}, gap {pl.solver.gap}"
    )
    if brute:
        t1 = time.perf_counter()
        best = exhaustive_best_decode(rp)
        t_brute = time.perf_counter() - t1
        a = evaluate_plan(rp.reordered(pl.order), PlanSpec.pipeline(pl.layers))
        line += (
            f"; exhaustive {t_brute:6.2f} s (ratio {t_brute / t_solve:5.1f}x), "
            f"same answer: {abs(a.system.decode_tok_s - best) < 1e-6 * best}"
        )
    print(line)


def main() -> None:
    w = Workload(prompt_tokens=256, gen_tokens=64)
    timed(
        "3 kinds, exhaustive baseline",
        Problem(
            model="Llama 3.2 1B", quant="FP16", devices=["RTX 4090", "RTX 3060", "M2 Max"], link="10GbE", workload=w
        ),
        SolverSettings(),
        brute=True,
    )
    eight = ["RTX 4090", "RTX 3090", "RTX 3060", "M2 Max", "M3 Ultra 256GB", "RX 7900 XTX", "RTX 4060 Ti", "M4 Pro"]
    timed(
        "8 heterogeneous devices",
        Problem(
            model="Llama 3 70B", quant="Q4_K_M", devices=[DeviceSpec(name=d) for d in eight], link="10GbE", workload=w
        ),
        SolverSettings(time_limit_s=10),
    )
    kinds = ["H100 SXM", "A100 80GB SXM", "L40S", "RTX 6000 Ada"]
    devices = [DeviceSpec(name=k, count=16) for k in kinds]
    timed(
        "64 devices (4 kinds)",
        Problem(model="Llama 3.1 405B", quant="FP16", devices=devices, link="100GbE", workload=w),
        SolverSettings(time_limit_s=10),
    )


if __name__ == "__main__":
    main()
