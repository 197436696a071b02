"""The catalog: sizes, sources, cross-references and parameter counts against published ones."""

import pytest

from catalog.loader import load_catalog
from optimizer.perf.architecture import active_params, total_params

CAT = load_catalog()


def test_catalog_sizes():
    assert len(CAT.devices) >= 80
    assert len(CAT.models) >= 40
    assert len(CAT.quants) >= 18
    assert len(CAT.runtimes) >= 10
    assert len(CAT.links) >= 25


@pytest.mark.parametrize("section", ["devices", "links", "models", "quants", "runtimes"])
def test_every_entry_has_a_source(section):
    for e in getattr(CAT, section).values():
        assert e.sources and all(s.strip() for s in e.sources), e.id


@pytest.mark.parametrize("model", sorted(CAT.models.values(), key=lambda m: m.id), ids=lambda m: m.id)
def test_parameter_counts_match_published(model):
    total = total_params(model) / 1e9
    assert total == pytest.approx(model.published_params_b, rel=0.03)
    if model.published_active_params_b and "ACTIVE-CONVENTION" not in model.notes:
        assert active_params(model) / 1e9 == pytest.approx(model.published_active_params_b, rel=0.03)


def test_required_device_families_present():
    names = " ".join(d.name for d in CAT.devices.values())
    for needle in (
        "RTX 2080",
        "RTX 3090",
        "RTX 4090",
        "RTX 5090",
        "A100",
        "H100",
        "H200",
        "B200",
        "DGX Spark",
        "MI300X",
        "RX 7900 XTX",
        "Arc",
        "M1",
        "M2 Ultra",
        "M3 Ultra",
        "M4 Max",
    ):
        assert needle in names, needle


def test_moe_models_have_fewer_active_than_total_params():
    for m in CAT.models.values():
        if m.moe:
            assert active_params(m) < 0.5 * total_params(m), m.id


def test_every_benchmark_source_says_when_its_software_ran():
    """Build dates (benchmark_source_dates.csv) must cover every source, so a new source cannot
    arrive undated; each date is a year-month with a stated basis."""
    import importlib.resources as res

    import pandas as pd

    from optimizer.validate import builtin_measurements

    with res.as_file(res.files("catalog").joinpath("data", "benchmark_source_dates.csv")) as path:
        dates = pd.read_csv(path, dtype=str)
    assert set(builtin_measurements().source_id) <= set(dates.source_id)
    assert dates.date.str.fullmatch(r"\d{4}-\d{2}").all() and dates.basis.str.len().gt(5).all()
    assert set(dates.confidence) <= {"high", "medium", "low"}
