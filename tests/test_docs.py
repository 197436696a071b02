"""Documentation that cannot drift: JSON schemas match the models; README commands exist."""

import json
import re
from pathlib import Path

from optimizer.report.schemas import output_models

ROOT = Path(__file__).parents[1]


def test_json_schemas_are_current():
    for name, model in output_models().items():
        committed = json.loads((ROOT / f"docs/{name}.schema.json").read_text())
        assert committed == model.model_json_schema(), "run: python -m optimizer.report.schemas"


def test_readme_starts_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```(?:bash|sh)\n(.*?)```", text, re.S)
    assert "mlba analyze problems/" in blocks[0]
    assert "pip install" in blocks[0] and "[test]" in blocks[1] and "pytest" in blocks[1]
    ci = (ROOT / ".ci/run").read_text()
    assert blocks[1].strip().splitlines()[-1].strip() in ci


def test_readme_problem_files_exist():
    text = (ROOT / "README.md").read_text()
    for name in set(re.findall(r"problems/[\w.-]+\.(?:yaml|json)", text)):
        assert (ROOT / name).exists(), name
