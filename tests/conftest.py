from __future__ import annotations

import pytest

from optimizer.analyze import analyze
from optimizer.problem import Problem


@pytest.fixture
def run():
    """Analyze a problem given as keyword arguments."""

    def _run(**kw):
        return analyze(Problem(**kw))

    return _run
