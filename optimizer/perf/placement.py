"""Layer splits that need no solver: EXO's memory-proportional rule (the baseline)."""

from __future__ import annotations

import math
from collections.abc import Sequence


class PlacementError(ValueError):
    pass


def largest_remainder_split(total: int, weights: Sequence[float]) -> list[int]:
    """EXO 1.0 pipeline allocation (exo.md section 1.4): ``total`` layers in proportion to
    ``weights`` by the largest-remainder method, then at least one layer per node (taken from the
    node with the most layers)."""
    n = len(weights)
    if n == 0:
        raise PlacementError("no devices to place layers on")
    if total < n:
        raise PlacementError(f"{total} layers cannot give each of {n} devices at least one")
    s = float(sum(weights))
    if s <= 0 or any(w < 0 for w in weights):
        raise PlacementError("placement weights must be non-negative and not all zero")
    raw = [total * w / s for w in weights]
    out = [math.floor(x) for x in raw]
    leftover = total - sum(out)
    order = sorted(range(n), key=lambda i: raw[i] - out[i], reverse=True)
    for i in order[:leftover]:
        out[i] += 1
    for i in range(n):
        if out[i] == 0:
            j = max(range(n), key=lambda k: out[k])
            out[j] -= 1
            out[i] = 1
    return out
