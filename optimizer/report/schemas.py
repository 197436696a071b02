"""Write the JSON Schemas of the CLI's outputs to docs/ (run: python -m optimizer.report.schemas)."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import BaseModel


def output_models() -> dict[str, type[BaseModel]]:
    from optimizer.results import Analysis
    from optimizer.validate import ValidationReport

    models: dict[str, type[BaseModel]] = {"analysis": Analysis, "validation": ValidationReport}
    try:
        from optimizer.solve.auto import AutoResult

        models["auto"] = AutoResult
        from optimizer.solve.hardware import HardwareAnswer

        models["hardware"] = HardwareAnswer
    except ImportError:  # pragma: no cover - before the AUTO module exists
        pass
    return models


def main() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs"
    for name, model in output_models().items():
        (docs / f"{name}.schema.json").write_text(json.dumps(model.model_json_schema(), indent=1) + "\n")
        print(f"wrote docs/{name}.schema.json")


if __name__ == "__main__":
    main()
