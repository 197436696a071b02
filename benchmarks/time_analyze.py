"""Time `mlba analyze` on a bundled problem as a user feels it: whole-process wall time.

Run: python benchmarks/time_analyze.py [--repeat 5]
Prints the median wall time of the CLI and, as a baseline measured in the same run, the time of
`python -c "pass"` (interpreter start-up), so the ratio is comparable across machines. Aim: under
0.5 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = ROOT / "problems" / "rtx4090-llama3-8b.yaml"


def wall(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    base = wall([sys.executable, "-c", "pass"], args.repeat)
    cli = [sys.executable, "-m", "optimizer.cli", "analyze", str(PROBLEM)]
    table = wall(cli, args.repeat)
    js = wall([*cli, "--json"], args.repeat)
    print(f"python start-up        {base * 1000:7.0f} ms")
    print(f"mlba analyze (table)   {table * 1000:7.0f} ms  ({table / base:.1f}x start-up)")
    print(f"mlba analyze --json    {js * 1000:7.0f} ms  ({js / base:.1f}x start-up)")
    print("target: < 500 ms" + ("  OK" if table < 0.5 else "  SLOW"))


if __name__ == "__main__":
    main()
