"""A log truncated (logrotate's copytruncate, `: > run.log` under a writer that keeps appending)
or rotated (renamed, a new file made) while the same run goes on keeps that run: its plan
(max_iters, tokens per iteration, eval cadence) and its history, with a warning that says so;
a new file that begins with a start-up header, or whose steps start again, is a new run.
Session level, with the times the lines were recorded at (an injected clock)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import FakeClock
from logwriter import Writer, iter_line, wait_for

from monitor.core.report import Options
from monitor.core.rows import run_row
from monitor.inbox import LinesRead, PartialRead, SourceEvent, SourceFailed, SourceReset
from monitor.live import LiveFeed
from monitor.multi import Runs
from monitor.session import Session

RUN = Path(__file__).parent.parent / "sample_logs" / "recorded" / "h200_gpt2_124M"
LINES = (RUN / "run.log").read_bytes().splitlines()
TIMES = [float(x) for x in (RUN / "run.times").read_text().split()]
#: the line `iter 150: …` (mid-run: max_iters 300, log_interval 5, eval every 100)
CUT = LINES.index(next(x for x in LINES if x.startswith(b"iter 150:"))) + 1
END_T = TIMES[-1] + 1.0
SAME_RUN = ("max_iters", "max_iters_source", "tokens_per_iter", "tokens_total", "params", "iter", "progress",
            "loss", "val_loss", "format", "status", "run_index", "eta_finish", "eta_low", "eta_high", "step_time_s")


def lines(a: int, b: int) -> LinesRead:
    return LinesRead([(TIMES[i], LINES[i]) for i in range(a, b)])


def read(*events: SourceEvent) -> Session:
    s = Session(Options(source="run.log"), FakeClock(END_T))
    for event in events:
        s.ingest([event])
    return s


def cut(cause: str) -> list[SourceEvent]:
    return [SourceFailed(f"run.log was {cause}; reading it from the start"), SourceReset(cause)]


def whole() -> Session:
    return read(lines(0, len(LINES)))


@pytest.mark.parametrize(("cause", "said"), [("truncated", "truncated"), ("rewritten", "truncated"),
                                             ("replaced", "rotated")])
def test_a_run_that_goes_on_in_a_cut_log_keeps_its_plan_and_history(cause: str, said: str) -> None:
    s = read(lines(0, CUT), *cut(cause), lines(CUT, len(LINES)))
    snap, ref = s.snapshot(END_T), whole().snapshot(END_T)
    assert s.run_count == 1
    assert {k: snap.record()[k] for k in SAME_RUN} == {k: ref.record()[k] for k in SAME_RUN}
    assert (snap.max_iters, snap.max_iters_source, snap.tokens_per_iter) == (300, "log", 49_152)
    went_on = f"the log was {said} at step 150; the same run went on at step 155 (earlier steps kept)"
    assert went_on in snap.warnings
    assert ("resume", went_on) in [(kind, text) for _, kind, text in snap.notes]
    assert s.state.current.n_iters == whole().state.current.n_iters  # the history before the cut stays


def test_steps_lost_at_the_cut_still_go_on() -> None:
    # copytruncate loses what the writer wrote between the copy and the truncation
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT + 3, len(LINES)))
    snap = s.snapshot(END_T)
    assert s.run_count == 1 and snap.max_iters == 300 and snap.iter == 300
    assert "the log was truncated at step 150; the same run went on at step 170 (earlier steps kept)" in snap.warnings


def test_a_log_cut_twice_says_how_many_times() -> None:
    second = CUT + 10
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT, second), *cut("replaced"), lines(second, len(LINES)))
    snap = s.snapshot(END_T)
    assert s.run_count == 1
    assert [w for w in snap.warnings if w.startswith("the log was")] == [
        "the log was rotated at step 195; the same run went on at step 200 (earlier steps kept) (2 times)"]


def test_a_new_run_with_its_header_after_the_cut_is_a_new_run() -> None:
    again = [(END_T + i, line.replace(b"max_iters = 300", b"max_iters = 400")) for i, line in enumerate(LINES)]
    s = read(lines(0, CUT), *cut("truncated"), LinesRead(again))
    snap = s.snapshot(END_T + len(LINES))
    assert s.run_count == 2 and snap.run_index == 1
    assert (snap.max_iters, snap.iter) == (400, 300)
    assert not [w for w in snap.warnings if w.startswith("the log was")]
    first = s.snapshot(END_T, run_index=0)
    assert first.iter == 150 and first.max_iters == 300  # the first run as it stood at the cut


def test_a_new_run_whose_header_comes_after_noise_is_a_new_run() -> None:
    noise = [(END_T, b"W1201 12:00:00.000 torch/distributed warning: something"), (END_T, b"")]
    s = read(lines(0, CUT), *cut("truncated"), LinesRead(noise), lines(0, CUT))
    assert s.run_count == 2 and s.snapshot(END_T).run_index == 1
    assert s.state.runs[1].lines == 2 + CUT  # the noise is the new run's
    assert s.state.runs[0].n_iters == s.state.runs[1].n_iters


@pytest.mark.parametrize(("first", "why"), [(b"iter 0: loss 10.9833, time 105.00ms, mfu 30.00%", "steps start again"),
                                            (b"iter 150: loss 10.9, time 105.00ms, mfu 30.00%", "the last step again"),
                                            (b"iter 90000: loss 3.0, time 105.00ms, mfu 30.00%", "too far ahead")])
def test_steps_that_do_not_follow_begin_a_new_run(first: bytes, why: str) -> None:
    s = read(lines(0, CUT), *cut("truncated"), LinesRead([(TIMES[CUT], first)]))
    snap = s.snapshot(END_T)
    assert s.run_count == 2, why
    # the new run printed no header: today's default is not assumed, and a warning says so
    assert (snap.max_iters, snap.max_iters_source) == (None, None)
    assert any(w.startswith("max_iters not in the log, which") for w in snap.warnings)
    assert not [w for w in snap.warnings if w.startswith("the log was")]


def test_a_partial_last_line_before_the_cut_and_its_rest_after_it() -> None:
    # the writer flushed mid-line, then the log was truncated: the rest of the line begins the new file
    line = LINES[CUT]
    head, rest = line[:12], line[12:]
    s = read(lines(0, CUT), PartialRead(TIMES[CUT], head), *cut("truncated"),
             LinesRead([(TIMES[CUT], rest)]), lines(CUT + 1, len(LINES)))
    snap = s.snapshot(END_T)
    assert s.run_count == 1 and snap.iter == 300 and snap.max_iters == 300
    assert any(w.startswith("the log was truncated at step 15") for w in snap.warnings)


def test_a_partial_first_line_after_the_cut_decides_nothing_until_it_is_whole() -> None:
    line = LINES[CUT]
    s = read(lines(0, CUT), *cut("truncated"), PartialRead(TIMES[CUT], line[:8]))
    assert s.run_count == 1
    s.ingest([LinesRead([(TIMES[CUT], line)])])
    snap = s.snapshot(END_T)
    assert s.run_count == 1 and snap.iter == 155
    assert "the log was truncated at step 150; the same run went on at step 155 (earlier steps kept)" in snap.warnings


FIRST_STEP = LINES.index(next(x for x in LINES if x.startswith(b"iter 0:")))


#: the start-up after the config dump: the data and the model load, torch.compile's minute, just before step 0
LOADING = [LINES.index(next(x for x in LINES if x.startswith(start)))
           for start in (b"Initializing a new model", b"number of parameters", b"compiling the model", b"iter 0:")]


@pytest.mark.parametrize("at", LOADING)
def test_a_cut_in_the_start_up_keeps_the_header_when_the_first_steps_follow(at: int) -> None:
    s = read(lines(0, at), *cut("truncated"), lines(at, len(LINES)))
    snap = s.snapshot(END_T)
    assert s.run_count == 1
    assert (snap.max_iters, snap.max_iters_source, snap.tokens_per_iter, snap.iter) == (300, "log", 49_152, 300)
    said = "the log was truncated before the run's first step; the same run went on at step 0 (its start-up lines kept)"
    assert said in snap.warnings


def test_a_new_runs_header_after_a_cut_in_the_start_up_is_a_new_run() -> None:
    again = [(END_T + i, line.replace(b"max_iters = 300", b"max_iters = 400")) for i, line in enumerate(LINES)]
    s = read(lines(0, FIRST_STEP), *cut("truncated"), LinesRead(again))
    snap = s.snapshot(END_T + len(LINES))
    assert s.run_count == 2 and (snap.run_index, snap.max_iters, snap.iter) == (1, 400, 300)
    assert s.state.runs[1].lines == len(LINES)  # the whole header is the new run's
    assert not [w for w in snap.warnings if w.startswith("the log was")]


def test_a_cut_in_the_start_up_then_steps_far_on_is_a_new_run() -> None:
    far = [(TIMES[FIRST_STEP], b"iter 5000: loss 3.0, time 105.00ms, mfu 30.00%")]
    s = read(lines(0, FIRST_STEP), *cut("truncated"), LinesRead(far))
    assert s.run_count == 2 and s.snapshot(END_T).max_iters_source is None  # no header of its own


def test_another_familys_lines_after_the_cut_are_a_new_run() -> None:
    llmc = [(TIMES[CUT], b"step    1/74 | train loss 11.010990 | norm 15.4015 | lr 8.57e-06 | (1290.71 ms | 406213 tok/s)")]
    s = read(lines(0, CUT), *cut("truncated"), LinesRead(llmc))
    assert s.run_count == 2 and s.format == "llmc"


def test_a_second_cut_before_the_first_is_decided() -> None:
    noise = LinesRead([(TIMES[CUT], b"W1201 warning: something")])
    s = read(lines(0, CUT), *cut("truncated"), noise, *cut("replaced"), lines(CUT, len(LINES)))
    assert s.run_count == 1 and s.snapshot(END_T).iter == 300  # the run went on in the second file
    s = read(lines(0, CUT), *cut("truncated"), noise, *cut("replaced"), lines(0, CUT))
    # a new run began in it; the noise between the cuts, no run's steps, is a run of its own as before
    assert [r.n_iters for r in s.state.runs] == [31, 0, 31] and s.snapshot(END_T).run_index == 2


def test_lines_that_never_say_are_a_new_run_after_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("monitor.session.UNDECIDED_LINES", 50)
    noise = LinesRead([(TIMES[CUT], b"loading shard %d" % i) for i in range(30)])
    s = read(lines(0, CUT), *cut("truncated"), noise)
    assert s.run_count == 1  # not known yet: read as the run going on
    s.ingest([noise])
    assert s.run_count == 2 and s.state.runs[1].lines == 60 and s.state.runs[0].n_iters == 31


def test_the_runs_table_row_keeps_the_runs_progress() -> None:
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT, CUT + 10))
    snap = s.snapshot(TIMES[CUT + 10])
    row = run_row("run.log", snap)
    assert snap.iter == 195 and row.progress == run_row("run.log", whole_until(CUT + 10)).progress == "65.0%"
    assert row.status == "training"  # no "(run 2)": one run


def whole_until(n: int) -> object:
    return read(lines(0, n)).snapshot(TIMES[n])


# --- the same through a real follower and a writer process that keeps writing -------------------

CONFIG = "Overriding: max_iters = 100\nOverriding: log_interval = 10\ntokens per iteration will be: 1,024\n"


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[Writer, LiveFeed]]:
    w = Writer(tmp_path / "run.log")
    session = Session(Options(source="run.log"), clock=FakeClock())
    f = LiveFeed.follow(session, str(tmp_path / "run.log"), clock=session.clock)
    yield w, f
    f.stop()
    w.close()


def steps(f: LiveFeed) -> list[list[int]]:
    return [[int(i) for i in run.iters.values] for run in f.session.state.runs]


def until(f: LiveFeed, want: list[list[int]], what: str) -> None:
    wait_for(lambda: (f.drain(), steps(f) == want)[1], what=what)


def start(w: Writer, f: LiveFeed, op: str) -> None:
    w(op)
    w("write", CONFIG + iter_line(0) + iter_line(10))
    f.start()
    until(f, [[0, 10]], "the lines already there")
    w("lines", [iter_line(20), iter_line(30)])
    until(f, [[0, 10, 20, 30]], "the appended lines")


@pytest.mark.parametrize("op", ["open", "rewrite"])  # the writer appends (O_APPEND), or writes at its offset
def test_copytruncate_under_a_writer_that_goes_on(live, tmp_path: Path, op: str) -> None:
    w, f = live
    start(w, f, op)
    shutil.copy(tmp_path / "run.log", tmp_path / "run.log.1")  # logrotate's copytruncate
    os.truncate(tmp_path / "run.log", 0)
    w("write", iter_line(40) + iter_line(50))
    until(f, [[0, 10, 20, 30, 40, 50]], "the run going on")
    snap = f.session.snapshot()
    assert (snap.run_index, snap.max_iters, snap.max_iters_source, snap.tokens_per_iter) == (0, 100, "log", 1024)
    assert "the log was truncated at step 30; the same run went on at step 40 (earlier steps kept)" in snap.warnings


def test_rename_and_recreate_while_the_run_goes_on(live) -> None:
    w, f = live
    start(w, f, "open")
    w("rotate")  # the log renamed away, the writer goes on in a new file under its name
    w("write", iter_line(40) + iter_line(50))
    until(f, [[0, 10, 20, 30, 40, 50]], "the run going on")
    snap = f.session.snapshot()
    assert (snap.run_index, snap.max_iters, snap.progress) == (0, 100, 0.5)
    assert "the log was rotated at step 30; the same run went on at step 40 (earlier steps kept)" in snap.warnings


def test_truncation_then_a_real_new_run(live) -> None:
    w, f = live
    start(w, f, "open")
    w("rewrite")
    w("write", CONFIG.replace("100", "200") + iter_line(0))
    until(f, [[0, 10, 20, 30], [0]], "the new run")
    snap = f.session.snapshot()
    assert (snap.run_index, snap.max_iters, snap.iter) == (1, 200, 0)
    assert not [x for x in snap.warnings if x.startswith("the log was")]


def test_the_runs_table_of_several_logs_keeps_a_cut_logs_run(tmp_path: Path) -> None:
    paths = [tmp_path / "a.log", tmp_path / "b.log"]
    for p in paths:
        p.write_text(CONFIG + "".join(iter_line(i) for i in (0, 10, 20, 30)))
    clock = FakeClock()
    runs = Runs([str(p) for p in paths], lambda path: Session(Options(source=path), clock), clock=clock)
    runs.start()
    try:
        want = [[0, 10, 20, 30]]
        wait_for(lambda: (runs.drain(), [[[int(i) for i in r.iters.values] for r in s.state.runs]
                                         for s in runs.sessions] == [want, want])[1], what="both logs")
        shutil.copy(paths[0], tmp_path / "a.log.1")
        with open(paths[0], "r+b") as f:  # copytruncate, then the writer goes on
            f.truncate(0)
        with open(paths[0], "ab") as f:
            f.write((iter_line(40) + iter_line(50)).encode())
        wait_for(lambda: (runs.drain(), runs.sessions[0].state.current.last_iter == 50)[1], what="the run going on")
        rows = [run_row(name, s.snapshot()) for name, s in zip(runs.names, runs.sessions)]
    finally:
        runs.stop()
    assert [(r.run, r.progress) for r in rows] == [("a.log", "50.0%"), ("b.log", "30.0%")]
    assert rows[0].status == "training"  # one run: no "(run 2)"
    assert runs.sessions[0].run_count == 1


# --- read in one batch, runs that had ended, other families' real logs ---------------------------

def sample(path: str, t0: float = TIMES[0]) -> list[tuple[float, bytes]]:
    """A sample log's lines (split on newlines only, as the follower does), one a second."""
    text = (Path(__file__).parent.parent / "sample_logs" / path).read_bytes()
    return [(t0 + i, line) for i, line in enumerate(text.rstrip(b"\n").split(b"\n"))]


def read_in(got: list[tuple[float, bytes]], *cuts: int, lost: int = 0) -> Session:
    """`got` read with the log cut before each line in `cuts` (`lost` lines lost at each cut),
    each file's lines in one batch, as a follower reads what it finds after a pause."""
    s = Session(Options(source="run.log"), FakeClock(got[-1][0] + 1))
    start = 0
    for at in cuts:
        s.ingest([LinesRead(got[start:at]), *cut("truncated")])
        start = at + lost
    s.ingest([LinesRead(got[start:])])
    return s


RESUMED = sample("recorded/h200_resumed/run.log")


def test_a_batch_with_the_run_going_on_and_then_a_resumed_run_after_it() -> None:
    # the new file's first read holds the rest of the first run and a resumed run's header and steps
    at = next(i for i, (_, x) in enumerate(RESUMED) if x.startswith(b"iter 300:"))
    whole_read, s = read_in(RESUMED), read_in(RESUMED, at)
    assert s.run_count == whole_read.run_count == 2
    assert [r.n_iters for r in s.state.runs] == [r.n_iters for r in whole_read.state.runs] == [151, 151]
    assert s.state.runs[0].continued and not s.state.runs[1].continued
    assert s.snapshot().record()["max_iters"] == 3000


KWIZZLE = sample("nanochat/kwizzle_nanobot_gtx1660_newformat.log")
#: nanochat's chat SFT stage: said its loop was over at step 49; wandb's summary and report lines follow
OVER = next(i for i, (_, x) in enumerate(KWIZZLE) if x.startswith(b"Step 00049 | ChatCORE")) + 1


@pytest.mark.parametrize("at", [OVER, len(KWIZZLE) - 1, len(KWIZZLE)])
def test_a_log_rotated_after_its_run_ended_still_shows_that_run(at: int) -> None:
    # logrotate after the run: the new file holds the last lines of its summary, or nothing yet
    s = read_in(KWIZZLE, at)
    snap = s.snapshot()
    assert s.run_count == read_in(KWIZZLE).run_count == 2
    assert (snap.run_index, snap.format, snap.status, snap.iter) == (1, "nanochat", "finished", 49)
    assert not [w for w in snap.warnings if "recognised" in w or w.startswith("the log was")]


def test_a_new_run_after_a_log_rotated_once_its_run_ended_is_a_new_run() -> None:
    first_run = KWIZZLE[: next(i for i, (_, x) in enumerate(KWIZZLE) if x.startswith(b"Step 00000 | Validation bpb: 2.9"))]
    again = [(KWIZZLE[-1][0] + 1 + i, x) for i, (_, x) in enumerate(first_run)]
    s = read_in(KWIZZLE + again, len(KWIZZLE))
    # the base run's 20 steps are a new run; the SFT stage's start-up after them one more, as uncut
    assert [r.n_iters for r in s.state.runs] == [20, 49, 20, 0] and s.snapshot().run_index == 3
    assert s.snapshot(run_index=1).status == "finished" and not s.state.runs[2].continued


def test_logrotate_create_under_a_writer_that_keeps_its_file(live, tmp_path: Path) -> None:
    # logrotate's `create` (and `compress`): the log renamed, an empty one made under its name; the
    # trainer never reopens, so its lines go on to the moved file, which gzip then deletes
    w, f = live
    log = tmp_path / "run.log"
    start(w, f, "open")
    os.link(log, tmp_path / "run.log.1")  # the name never missing: no "deleted" state in between
    (tmp_path / "new").touch()
    (tmp_path / "new").rename(log)
    w("write", iter_line(40) + iter_line(50))
    until(f, [[0, 10, 20, 30, 40, 50]], "the lines written to the moved file")
    moved = "still writes to the moved file: following that file until the new one gets lines"
    wait_for(lambda: (f.drain(), any(moved in x for x in f.session.snapshot().warnings))[1], what="the notice")
    (tmp_path / "run.log.1").unlink()  # compressed away: the open file is still read
    w("write", iter_line(60))
    until(f, [[0, 10, 20, 30, 40, 50, 60]], "a line written to the deleted file")
    snap = f.session.snapshot()
    assert (snap.run_index, snap.max_iters, snap.progress) == (0, 100, 0.6)
    assert any(moved in x for x in snap.warnings) and log.stat().st_size == 0
    w("rewrite")  # the trainer reopens its log at last (a postrotate signal): the new file gets its lines
    w("write", iter_line(70))
    until(f, [[0, 10, 20, 30, 40, 50, 60, 70]], "the run going on in the new file")
    snap = f.session.snapshot()
    assert not any(moved in x for x in snap.warnings)
    assert "the log was rotated at step 60; the same run went on at step 70 (earlier steps kept)" in snap.warnings


MODDED = sample("modded_nanogpt/mng_2025-01-18_medium_compile_in_step1.log")


def test_a_modded_run_goes_on_through_a_cut_and_another_whose_steps_go_on_is_a_new_run() -> None:
    at = next(i for i, (_, x) in enumerate(MODDED) if x.startswith(b"step:3751/"))
    s = read_in(MODDED, at)
    assert s.run_count == 1 and s.snapshot().iter == 7500
    assert "the log was truncated at step 3,750; the same run went on at step 3,751 (earlier steps kept)" in (
        s.snapshot().warnings)
    # a record file written again into the cut log: its source and `Running PyTorch …` header, then steps
    # that happen to go on from the cut (no `step:0` validation line to say the counter went back)
    header = [(t, x) for t, x in MODDED if not x.startswith(b"step:")]
    header = header[: next(i for i, (_, x) in enumerate(header) if x.startswith(b"Running PyTorch")) + 1]
    s = read_in(MODDED[:at] + header + MODDED[at:], at)
    assert s.run_count == 2 and [r.n_iters for r in s.state.runs] == [3750, 3750]
    assert not [w for w in s.snapshot().warnings if w.startswith("the log was")]
