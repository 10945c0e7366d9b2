"""The benchmarks that replay every recorded run leave the test set (eta_accuracy.TEST_SET_PREFIXES)
out unless asked (all_recorded_runs(test_set=True), `--test-set`)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_accuracy, eta_reaction

    recorded, heldout = tmp_path / "recorded", tmp_path / "heldout"
    test_name = eta_accuracy.TEST_SET_PREFIXES[0].removeprefix("heldout/") + "run"
    studied_name = eta_accuracy.UNFITTED_PREFIXES[0].removeprefix("heldout/") + "run"
    for folder in (recorded / "fitted_run", heldout / test_name, heldout / studied_name):
        folder.mkdir(parents=True)
        (folder / "run.log").write_text("")
        (folder / "run.times").write_text("")
    monkeypatch.setattr(eta_accuracy, "RECORDED", recorded)
    monkeypatch.setattr(eta_accuracy, "HELDOUT", heldout)
    names = ["fitted_run", f"heldout/{studied_name}", f"heldout/{test_name}"]
    return eta_accuracy, eta_reaction, names


def test_all_recorded_runs_leaves_the_test_set_out_unless_asked(bench) -> None:
    eta_accuracy, _, (fitted, studied, test) = bench
    assert sorted(r[0] for r in eta_accuracy.all_recorded_runs()) == sorted([fitted, studied])
    assert sorted(r[0] for r in eta_accuracy.all_recorded_runs(test_set=True)) == sorted([fitted, studied, test])


def test_eta_reaction_replays_the_test_set_only_when_asked(bench, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    _, eta_reaction, (fitted, studied, test) = bench
    seen: list[str] = []
    monkeypatch.setattr(eta_reaction, "reactions", lambda name, log, times: seen.append(name) or [])
    monkeypatch.setattr(sys, "argv", ["eta_reaction.py"])
    assert eta_reaction.main() == 0
    assert sorted(seen) == sorted([fitted, studied])
    seen.clear()
    monkeypatch.setattr(sys, "argv", ["eta_reaction.py", "--test-set"])
    assert eta_reaction.main() == 0
    assert sorted(seen) == sorted([fitted, studied, test])
    capsys.readouterr()


def test_h200l_is_studied_and_h200h_the_test_set() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_accuracy

    assert eta_accuracy.TEST_SET_PREFIXES == ("heldout/h200h_",)
    studied = "heldout/h200l_6L384_resumed_from_400_compiled_new_log_eval300"
    assert not eta_accuracy.in_test_set(studied) and not eta_accuracy.fitted_on(studied)
    assert eta_accuracy.in_test_set("heldout/h200h_run")


def test_h200m_is_not_fitted_on() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_accuracy

    name = "heldout/h200m_8L512_competitor_on_off_irregular_2procs"
    assert not eta_accuracy.in_test_set(name) and not eta_accuracy.fitted_on(name)


def test_h200n_is_not_fitted_on() -> None:
    sys.path.insert(0, str(ROOT))
    from benchmarks import eta_accuracy

    name = "heldout/h200n_4L384_log5_competitor_30_to_60pct_2procs"
    assert not eta_accuracy.in_test_set(name) and not eta_accuracy.fitted_on(name)
