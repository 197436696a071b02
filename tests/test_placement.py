"""EXO's largest-remainder layer allocation, against the test vectors in EXO's repository
(src/exo/master/tests/test_placement_utils.py, as quoted in shared/reference/exo.md 1.4)."""

import pytest

from optimizer.perf.placement import PlacementError, largest_remainder_split


@pytest.mark.parametrize(
    ("layers", "weights", "expected"),
    [
        (12, [0.25, 0.25, 0.25, 0.25], [3, 3, 3, 3]),
        (12, [0.25, 0.25, 0.5], [3, 3, 6]),
        (20, [0.975, 0.0125, 0.0125], [18, 1, 1]),
        (3, [0.33, 0.33, 0.34], [1, 1, 1]),
    ],
)
def test_exo_vectors(layers, weights, expected):
    assert largest_remainder_split(layers, weights) == expected


def test_fewer_layers_than_nodes_is_an_error():
    with pytest.raises(PlacementError):
        largest_remainder_split(2, [1, 1, 1])
