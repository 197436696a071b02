"""Time hardware selection over the whole catalog (counts up to 16).

Run: python benchmarks/time_hardware.py
Prints the wall time of min-hardware and recommend over every priced device with up to 16 devices,
split into evaluating the configurations (the analytic core) and the CP-SAT choice, and the ratio of
the CP-SAT choice to an exhaustive scan of the same configurations in the same run. Aim: < 5 s.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from optimizer.problem import Workload
from optimizer.solve.hardware import _priced_devices, _solve, configurations, min_hardware


def main() -> None:
    devices = _priced_devices(None)
    w = Workload()
    t0 = time.perf_counter()
    evaluated = configurations("Llama 3 70B", "Q4_K_M", None, w, devices, 16, None)
    t_eval = time.perf_counter() - t0
    configs = [c for c, _ in evaluated]

    def allowed(c):  # type: ignore[no-untyped-def]
        return c.decode_tok_s >= 15

    def cost(c):  # type: ignore[no-untyped-def]
        return round(c.price_usd * 100) * 10**6 + round(c.power_w) * 100 + c.count

    t1 = time.perf_counter()
    idx, status, optimal, _ = _solve(configs, cost, allowed)
    t_solve = time.perf_counter() - t1
    t2 = time.perf_counter()
    brute = min((c for c in configs if allowed(c)), key=cost)
    t_brute = time.perf_counter() - t2
    assert idx is not None and configs[idx] == brute
    t3 = time.perf_counter()
    min_hardware("Llama 3 70B", "Q4_K_M", 15, workload=w, max_devices=16)
    t_total = time.perf_counter() - t3
    print(f"{len(devices)} device types, {len(configs)} configurations that fit (counts up to 16)")
    print(f"evaluate (analytic core)  {t_eval:6.2f} s")
    print(f"CP-SAT choice             {t_solve * 1000:6.1f} ms  ({status}, optimal={optimal})")
    print(
        f"exhaustive scan           {t_brute * 1000:6.1f} ms  (ratio CP-SAT/scan {t_solve / max(t_brute, 1e-9):.1f}x)"
    )
    print(f"min-hardware end to end   {t_total:6.2f} s   target < 5 s: {'OK' if t_total < 5 else 'SLOW'}")


if __name__ == "__main__":
    main()
