"""The examples run (fast mode) and report what they claim."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def load_example(name: str):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_formulations_fast(capsys):
    rows = load_example("compare_formulations").main(["--fast"])
    by_model = {row["model"].split(",")[0]: row for row in rows[:3]}
    # exact <= sampled (same tiny problem); the recovered network's objective equals the convex one
    assert by_model["exact"]["objective"] <= by_model["sampled"]["objective"] + 1e-6
    for row in rows:
        assert row["network objective"] == pytest.approx(row["objective"], rel=1e-4)
        assert 0.5 < row["test acc"] <= 1.0
    assert "| model |" in capsys.readouterr().out


def test_robust_training_fast(tmp_path, capsys):
    module = load_example("robust_training")
    rows = module.main(["--fast", "--out", str(tmp_path)])
    assert len(rows) == 2 * len(module.METHODS)  # two data sets, one radius, five methods
    assert {r["method"] for r in rows} == set(module.METHODS)
    for r in rows:
        assert 0.0 <= r["PGD acc"] <= r["clean acc"] <= 1.0
        assert r["clean acc"] > 0.7, r
    assert "| data (scaling" in (tmp_path / "robust_training.md").read_text()
    assert "| data (scaling" in capsys.readouterr().out


def test_robust_training_fast_with_the_admm(tmp_path):
    module = load_example("robust_training")
    args = ["--fast", "--data", "breast_cancer", "--robust-solver", "ADMM", "--robust-patterns", "8"]
    rows = module.main([*args, "--out", str(tmp_path)])
    robust = [r for r in rows if r["method"] == "convex robust"]
    assert len(robust) == 1 and robust[0]["note"].startswith("status optimal"), robust
    assert "robust programs: ADMM, P = 8" in (tmp_path / "robust_training.md").read_text()
