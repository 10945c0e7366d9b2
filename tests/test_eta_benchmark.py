"""The ETA benchmark's choice of run for multi-run family logs and its per-run scoring span
(benchmarks/eta_accuracy.py, loaded by path: benchmarks/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("eta_accuracy", ROOT / "benchmarks" / "eta_accuracy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _copy(src: str, dest_root: Path, family: str) -> None:
    (dest_root / family).mkdir(exist_ok=True)
    (dest_root / family / Path(src).name).write_bytes((ROOT / "sample_logs" / src).read_bytes())


def test_family_runs_scores_the_longest_timed_run_and_lists_the_rest(bench, tmp_path: Path) -> None:
    for family in bench.FAMILY_DIRS:
        (tmp_path / family).mkdir()
    _copy("nanochat/kwizzle_nanobot_gtx1660_newformat.log", tmp_path, "nanochat")
    _copy("llmc/llmc_stdout_gpt2_124M_A100_elided_fragment.log", tmp_path, "llmc")
    _copy("modded_nanogpt/mng_2026-07-17_current_format.log", tmp_path, "modded_nanogpt")
    jobs, unscored = bench.family_runs(tmp_path)
    # kwizzle: base (20 steps, 0..19) and sft (49 steps, 1..49): sft has more steps, so it is
    # chosen (its unknown total is reported when it is replayed); the llm.c fragment prints
    # ms on only 3 lines.
    names = {name: index for name, _, _, _, index in jobs}
    assert names == {
        "nanochat/kwizzle_nanobot_gtx1660_newformat [run 2 of 2, 49 steps]": 1,
        "modded_nanogpt/mng_2026-07-17_current_format [single run, 1390 steps]": 0,
    }
    fragment = "llmc/llmc_stdout_gpt2_124M_A100_elided_fragment [single run, 19560 steps]"
    assert unscored == [f"{fragment}: only 3 timed progress lines (need {bench.MIN_TIMED_LINES})"]


def test_replay_of_one_run_scores_that_run_over_its_own_span(bench) -> None:
    log = ROOT / "sample_logs" / "nanochat" / "kwizzle_nanobot_gtx1660_newformat.log"
    first = bench.replay("base", log, None, None, run_index=0)
    assert isinstance(first, bench.Result)
    assert first.final_iter == 19
    # the paced span of the base stage alone: its printed dt sum, not the whole file's
    items = list(bench.timed_lines(str(log), None, 0.0))
    runs = bench._fed(log, items).state.runs
    assert first.duration_s == pytest.approx(runs[0].last_line_t - runs[0].first_t)
    assert first.duration_s < items[-1][0] - items[0][0]
    # chat_sft prints no total: the share of its data on its step lines gives it (49, steps 1..49)
    sft = bench.replay("sft", log, None, None, run_index=1)
    assert isinstance(sft, bench.Result) and sft.final_iter == 49


@pytest.mark.parametrize("folder", ["recorded/h200_ddp2_gpt2_124M", "heldout/h200e_stdout_block_buffered"])
def test_the_blend_refitted_from_the_lines_gives_what_the_estimator_gave(bench, folder: str) -> None:
    """Leave one run out refits the blend from each line's per-method finishes instead of
    replaying again: with the shipped blend that must give the replayed estimate exactly, also
    where lines come in bursts (the finish taken earlier by the run's lead, estimate.lead)."""
    import benchmarks.eta_band as band
    from monitor.core.eta_calibration import BLEND

    run = ROOT / "sample_logs" / folder
    res = bench.replay("run", run / "run.log", run / "run.times")
    assert isinstance(res, bench.Result) and res.lines
    again = band.reblend(res, BLEND)
    assert [ln.finish for ln in again.lines] == pytest.approx([ln.finish for ln in res.lines], abs=1e-6)  # a microsecond: rounding of epoch seconds
    assert [ln.scale_s for ln in again.lines] == pytest.approx([ln.scale_s for ln in res.lines], abs=1e-6)  # a microsecond: rounding of epoch seconds
    if "buffered" in folder:
        assert sum(ln.lag_s > 0 for ln in res.lines) > len(res.lines) / 2
    for p, q in zip(res.points, again.points, strict=True):
        assert q.errors["nanowatch"] == pytest.approx(p.errors["nanowatch"], abs=1e-6 / res.duration_s)  # a microsecond
    # a blend of the wall-clock rate alone moves the estimate to that method's finishes
    wall = band.Blend(((0.0, 0.0, 1.0),) * len(BLEND.weights), 1)
    alone = band.reblend(res, wall)
    assert [ln.finish for ln in alone.lines] == pytest.approx(
        [dict(ln.methods).get("wallclock", ln.now + sum(f - ln.now for _, f in ln.methods) / len(ln.methods))
         for ln in res.lines], abs=1e-6)


def test_runs_replayed_at_once_score_as_one_by_one(bench) -> None:
    runs = [(name, ROOT / "sample_logs" / "recorded" / name / "run.log", ROOT / "sample_logs" / "recorded" / name / "run.times", None)
            for name in ("h200_ddp2_gpt2_124M", "h200_gpu_contended_short")]
    apart, together = bench.replay_all(runs, 1), bench.replay_all(runs, 2)
    assert [r.name for r in together] == [name for name, *_ in runs]
    assert [[p.errors for p in r.points] for r in together] == [[p.errors for p in r.points] for r in apart]
