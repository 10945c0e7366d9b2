"""nanochat, llm.c and modded-nanogpt: every bundled real log against its facts, the line
variants of each family, detection, and what `--once` says about them."""

from __future__ import annotations

import functools
import json
import re

import pytest
from conftest import SAMPLES, FakeClock, sample_facts
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.cli import main
from monitor.core.events import Compiling, ConfigValue, Eval, Iteration, RunStarted, ScheduleChanges, TokensPerIter
from monitor.core.formats import FAMILIES, AutoParser, detect, llmc, modded, nanochat
from monitor.core.report import Options
from monitor.core.summary import summary
from monitor.session import Session
from monitor.sources.logfile import read_lines

FACTS = sample_facts()
OTHERS = {k: v for k, v in FACTS.items() if v["format"] in ("nanochat", "llmc", "modded")}
MULTI_RUN = {k: v for k, v in OTHERS.items() if "runs" in v}


def load(name: str, clock, fmt: str = "auto", max_iters: int | None = None) -> Session:
    """A session that has read the whole log (cached: several tests read the same big logs)."""
    return _load(name, fmt, max_iters)


@functools.cache
def _load(name: str, fmt: str, max_iters: int | None) -> Session:
    s = Session(Options(source=name, fmt=fmt, max_iters=max_iters), FakeClock())
    lines, tail, _ = read_lines(str(SAMPLES / name))
    s.feed_many([*lines, tail] if tail else lines)
    return s


def test_every_real_log_of_the_three_families_is_bundled() -> None:
    on_disk = {str(p.relative_to(SAMPLES)) for d in ("nanochat", "llmc", "modded_nanogpt") for p in (SAMPLES / d).glob("*.log")}
    assert on_disk == set(OTHERS)


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_detected_family_and_current_run(name: str, clock) -> None:
    facts = OTHERS[name]
    s = load(name, clock, max_iters=facts["true_max_iters"] if facts["max_iters_in_log"] is None else None)
    run = s.state.current
    assert s.format == facts["format"]
    assert len(s.state.runs) == facts.get("run_count", 1)
    if facts["iter_lines"]:  # else a log of val lines only: see test_modded_val_only_log_is_twenty_runs
        assert run.n_iters == facts["iter_lines"]
        assert (run.first_iter, run.last_iter) == (facts["first_iter"], facts["last_iter"])
    assert run.printed_max_iters == facts["max_iters_in_log"]
    snap = s.snapshot()
    assert snap.format == facts["format"]
    assert snap.run_index == facts.get("run_count", 1) - 1
    if facts["ends"] == "finished":
        assert (snap.status, snap.progress) == ("finished", 1.0)


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_the_same_events_with_the_family_named(name: str, clock) -> None:
    auto = load(name, clock).state.runs
    named = load(name, clock, fmt=OTHERS[name]["format"]).state.runs
    assert [(r.n_iters, r.last_iter, len(r.evals)) for r in auto] == [(r.n_iters, r.last_iter, len(r.evals)) for r in named]


@pytest.mark.parametrize("name", sorted(OTHERS))
def test_eval_lines(name: str, clock) -> None:
    facts = OTHERS[name]
    runs = load(name, clock).state.runs
    if "runs" in facts:
        assert [len(r.evals) for r in runs] == [f["eval_lines"] for f in facts["runs"]]
    else:
        assert sum(len(r.evals) for r in runs) == facts["eval_lines"]


@pytest.mark.parametrize("name", sorted(MULTI_RUN))
def test_each_stage_is_its_own_run(name: str, clock) -> None:
    runs = load(name, clock).state.runs
    got = [
        {"iter_lines": r.n_iters, "first_iter": r.first_iter, "last_iter": r.last_iter,
         "max_iters_in_log": r.printed_max_iters, "tokens_per_iter": r.tokens_per_iter, "params": r.params}
        for r in runs
    ]  # fmt: skip
    want = [{k: v for k, v in f.items() if k in got[0]} for f in MULTI_RUN[name]["runs"]]
    assert got == want


def test_nanochat_speedrun_stages_end_where_each_script_stops(clock) -> None:
    s = load("nanochat/dwarkeshsp_speedrun_d20_8xH100.log", clock)
    base, mid, sft = (s.snapshot(run_index=i) for i in range(3))
    assert (base.iter, base.max_iters, base.final_iter, base.status) == (21399, 21400, 21399, "finished")
    assert base.tokens_total == 21400 * 524_288  # steps 0..21399
    # mid_train prints no total; the share of its data each step line prints gives it
    assert (mid.iter, mid.max_iters, mid.max_iters_source, mid.status) == (765, 770, "log", "finished")
    # October 2025 chat_sft only evaluates on its last pass: the last training line is total - 2.
    assert (sft.iter, sft.max_iters, sft.final_iter, sft.status) == (649, 651, 649, "finished")


def test_nanochat_base_train_numbers(clock) -> None:
    s = load("nanochat/dwarkeshsp_speedrun_d20_8xH100.log", clock)
    base = s.state.runs[0]
    assert base.step_time_s.values[0] == pytest.approx(39.6, abs=0.05)  # step 0 includes torch.compile
    assert base.train_time_s.values[-1] == pytest.approx(170.39 * 60)
    core = [e for e in base.evals if e.metric == "CORE metric"]
    assert [e.iter for e in core] == [*range(2000, 21400, 2000), 21400]
    snap = s.snapshot(run_index=0)
    assert snap.val_loss == base.evals[-2].val_loss  # the last bpb, not the CORE score after it
    assert snap.mfu == pytest.approx(base.mfu.values[-1])


def test_nanochat_aborted_run_estimates_what_is_left(clock) -> None:
    snap = load("nanochat/jonhenshaw_speedrun_gradnorm_aborted.log", clock).snapshot()
    assert (snap.iter, snap.max_iters, snap.status) == (2369, 21400, "training")
    assert snap.progress == pytest.approx(2369 / 21399)
    assert snap.tokens_seen == 2370 * 524_288
    assert snap.step_time_s == pytest.approx(13.8, rel=0.02)


def test_modded_clock_reset_at_step_11_does_not_start_a_run(clock) -> None:
    s = load("modded_nanogpt/mng_2024-10-09_SOAP_early_format.log", clock)
    run = s.state.current
    train = run.train_time_s.values
    assert len(s.state.runs) == 1
    assert train[9] == pytest.approx(26.562) and train[10] == pytest.approx(1.539)  # steps 10, 11
    assert run.step_time_s.values[10] != run.step_time_s.values[10]  # no step time across the reset
    assert run.step_time_s.values[0] == pytest.approx(24.179 - 0.305)  # step 1: compile
    assert run.loss.values[-1] == pytest.approx(3.4305)


def test_modded_source_header_yields_no_events() -> None:
    parser = modded.Parser()
    lines = (SAMPLES / "modded_nanogpt/mng_2026-07-17_current_format.log").read_text().splitlines()
    source = lines[: lines.index(next(line for line in lines if line.startswith("Running Python")))]
    assert len(source) == 3232 and any('f"step:{step' in line for line in source)  # the templates are in there
    assert [event for event in map(parser.parse, source) if event is not None] == []


def test_auto_detection_waits_through_a_3000_line_source_header(clock) -> None:
    auto = AutoParser()
    lines = (SAMPLES / "modded_nanogpt/mng_2026-07-17_current_format.log").read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        out.extend(auto.feed(float(i), line))
        if auto.decided:  # `Running Python …` (line 3232) is a guess; the first step line decides
            break
    assert (auto.name, i) == ("modded", 3295)  # the first step line, after 3295 lines of source
    # `Running Python …` and `Running PyTorch …` start the run (a new run's header after another's steps)
    assert [type(e) for _, e in out] == [RunStarted, RunStarted, Compiling, ScheduleChanges, RunStarted, Eval]
    assert [t for t, _ in out] == [3232.0, 3233.0, 3292.0, 3293.0, 3295.0, 3295.0]
    assert out[3][1] == ScheduleChanges((460, 920, 1380))


@pytest.mark.parametrize(("name", "header", "first_step"), [
    ("mng_2024-10-09_SOAP_early_format.log", 859, 918), ("mng_2024-10-20_ScaleUp1B_20344steps.log", 541, 600)])
def test_a_2024_record_starts_its_run_at_its_lower_case_running_pytorch_header(name: str, header: int,
                                                                              first_step: int) -> None:
    """2024's records print `Running pytorch 2.4.1+cu121 compiled for CUDA 12.1` after the source:
    it ends the source and starts the run there, as `Running PyTorch` does, not at the first step."""
    auto = AutoParser()
    lines = (SAMPLES / "modded_nanogpt" / name).read_text().splitlines()
    out = []
    for i, line in enumerate(lines):
        out.extend(auto.feed(float(i), line))
        if auto.decided:
            break
    assert lines[header].startswith("Running pytorch ") and (auto.name, i) == ("modded", first_step)
    assert [(t, type(e)) for t, e in out][:1] == [(float(header), RunStarted)]


def test_modded_val_only_log_is_twenty_runs(clock) -> None:
    s = load("modded_nanogpt/mng_track3_val_only_seconds.log", clock)
    facts = OTHERS["modded_nanogpt/mng_track3_val_only_seconds.log"]
    assert len(s.state.runs) == facts["run_count"]
    for run in s.state.runs:
        assert len(run.evals) == facts["val_lines_per_run"]
        assert (run.first_iter, run.last_iter, run.n_iters) == (125, 3350, facts["val_lines_per_run"] - 1)
    snap = s.snapshot()
    assert (snap.status, snap.loss, snap.val_loss) == ("finished", None, 3.27839)
    assert snap.step_time_s == pytest.approx(0.147, rel=0.01)  # train_time is in seconds here


def test_llmc_logger_file_counts_from_zero(clock) -> None:
    name = "llmc/llmc_main_log_gpt2_124M_8xH100.log"
    given = load(name, clock, max_iters=19560).snapshot()
    assert (given.final_iter, given.status, given.progress) == (19559, "finished", 1.0)
    assert given.step_time_s is None and given.val_loss == 3.2722
    # The loop's last validation (`s:19560 tel:…`, off the grid of 250) is at the total: the file
    # says it once it ends, not before.
    ended = load(name, clock).snapshot()
    assert (ended.final_iter, ended.max_iters, ended.max_iters_source, ended.progress) == (19559, 19560, "log", 1.0)
    s = Session(Options(source=name), FakeClock())
    lines, _, _ = read_lines(str(SAMPLES / name))
    s.feed_many(lines[:-1])  # mid-run: nothing in a logger file gives the total
    unknown = s.snapshot()
    assert (unknown.iter, unknown.max_iters, unknown.progress) == (19559, None, None)
    assert "max_iters unknown: pass --max-iters" in unknown.warnings


def test_llmc_stdout_evals_follow_the_last_step(clock) -> None:
    run = load("llmc/llmc_stdout_gpt2_124M_A100_elided_fragment.log", clock).state.current
    assert [(e.iter, e.metric, e.val_loss) for e in run.evals] == [(19560, "val loss", 3.265413), (19560, "HellaSwag", None)]
    assert [n.text for n in run.notes if n.kind == "eval"][-1] == "step 19560: HellaSwag 0.3138"
    assert run.step_time_s.values.tolist() == [4.68825, 4.33991, 4.36796]
    assert run.mfu.values.tolist() == pytest.approx([0.288, 0.311, 0.309])


# --- single lines, every variant the sources print ---


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("step 00100/21400 (0.47%) | loss: 4.123456 | lrm: 1.00 | dt: 476.12ms | tok/sec: 1,101,000 | mfu: 48.61 | total time: 0.71m",
         Iteration(100, 4.123456, 0.47612, 0.4861, 21400, 0.71 * 60)),
        ("step 00100/21400 (0.47%) | loss: 4.1 | grad norm: 0.3121 | lrm: 1.00 | dt: 13845.96ms | tok/sec: 37,866 | mfu: 12.20 | total time: 20.10m",
         Iteration(100, 4.1, 13.84596, 0.122, 21400, 20.10 * 60)),
        ("step 00011/00020 (55.00%) | loss: 10.393664 | lrm: 0.30 | dt: 33.40ms | tok/sec: 15,327 | bf16_mfu: 1.16 | epoch: 1 pq: 0 rg: 1 | total time: 0.00m | eta: 0.0m",
         Iteration(11, 10.393664, 0.0334, 0.0116, 20, 0.0)),
        ("step 00765 (99.33%) | loss: 1.284091 | lrm: 0.03 | dt: 464.35ms | tok/sec: 1,129,089 | mfu: 49.83 | total time: 6.65m",
         Iteration(765, 1.284091, 0.46435, 0.4983, None, 6.65 * 60, share_total=770)),
        ("Step 00001/00651 | Training loss: 0.851481| lrm: 0.998464| num_tokens: 15,909", Iteration(1, 0.851481, max_iters=651)),
        ("^[[B^[[B^[[Astep 04354/21400 (20.35%) | loss: 3.036728 | lrm: 1.00 | dt: 474.92ms | tok/sec: 1 | mfu: 48.72 | total time: 34.89m",
         Iteration(4354, 3.036728, 0.47492, 0.4872, 21400, 34.89 * 60)),
    ],
)  # fmt: skip
def test_nanochat_step_lines(line: str, want: Iteration) -> None:
    got = nanochat.Parser().parse(line)
    step = got[-1] if isinstance(got, tuple) else got
    _same(step, want)


def _same(got: object, want: Iteration) -> bool:
    assert isinstance(got, Iteration)
    for field in ("iter", "max_iters"):
        assert getattr(got, field) == getattr(want, field), field
    for field in ("loss", "step_time_s", "mfu", "train_time_s"):
        assert getattr(got, field) == pytest.approx(getattr(want, field)), field
    return True


def test_nanochat_stage_change_starts_a_run_with_its_own_last_step_rule() -> None:
    p = nanochat.Parser()
    first = p.parse("step 00000/21400 (0.00%) | loss: 11.0 | lrm: 1.00 | dt: 39600.00ms | tok/sec: 1 | mfu: 0.6 | total time: 0.00m")
    again = p.parse("step 00001/21400 (0.00%) | loss: 10.9 | lrm: 1.00 | dt: 476.00ms | tok/sec: 1 | mfu: 48.6 | total time: 0.00m")
    sft = p.parse("Step 00000/00651 | Training loss: 0.843050| lrm: 1.000000| num_tokens: 15,432")
    assert isinstance(first, tuple) and isinstance(first[0], RunStarted) and first[1] == ConfigValue("final_iter_offset", None)
    assert isinstance(again, Iteration)
    assert isinstance(sft, tuple) and sft[1] == ConfigValue("final_iter_offset", 2)


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("Step 00250 | Validation bpb: 0.9712", Eval(250, 0.9712, metric="val bpb")),
        ("Step 02000 | CORE metric: 0.1285", Eval(2000, None, metric="CORE metric", score=0.1285)),
        ("Step 00100 | Validation loss: 1.009291", Eval(100, 1.009291, metric="val loss")),
        ("Step 00200 | mmlu_acc: 0.333008, arc_easy_acc: 0.4", Eval(200, None, metric="mmlu_acc", score=0.333008)),
        ("Step 00049 | ChatCORE: 0.0013 | ChatCORE_cat: 0.0", Eval(49, None, metric="ChatCORE", score=0.0013)),
    ],
)
def test_nanochat_eval_lines(line: str, want: Eval) -> None:
    assert nanochat.Parser().parse(line) == want


def test_nanochat_startup_lines() -> None:
    p = nanochat.Parser()
    assert p.parse("Total batch size 524,288 => gradient accumulation steps: 1") == TokensPerIter(524_288)
    assert p.parse("Overriding: eval_every = 500") == ConfigValue("eval_interval", 500)
    assert p.parse("Tokens / micro-batch / rank: 32 x 2048 = 65,536") == ConfigValue("block_size", 2048)
    assert p.parse('  "n_layer": 4,') == ConfigValue("n_layer", 4)


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("step    1/74 | loss 11.010252 (+nanz)| norm 15.1374 (+nanz)| lr 8.57e-07 | 4688.25 ms | 28.8% bf16 MFU | 111830 tok/s",
         Iteration(1, 11.010252, 4.68825, 0.288, 74)),
        ("step   20/74 | train loss 5.5 | norm 1.2 | lr 6.00e-04 | 80.10 ms | 45.0% A100 fp16 MFU | 100000 tok/s",
         Iteration(20, 5.5, 0.0801, 0.45, 74)),
        ("step 3/74: train loss 4.250000 norm 1.1000 (120.50 ms, 130000 tok/s)", Iteration(3, 4.25, 0.1205, None, 74)),
        ("step 7: train loss 4.677 (took 1432.1 ms)", Iteration(7, 4.677, 1.4321, None, None)),
        ("step    5/50 | loss 6.0 (+0.1z)| norm 1.0 (+0.1z)| lr 1e-4 | 90.00 ms | -100.0% bf16 MFU | 1000 tok/s",
         Iteration(5, 6.0, 0.09, None, 50)),
    ],
)  # fmt: skip
def test_llmc_step_lines(line: str, want: Iteration) -> None:
    got = llmc.Parser().parse(line)  # the first step line may come with settings of its script
    _same(got[-1] if isinstance(got, tuple) else got, want)


def test_llmc_parameter_table() -> None:
    p = llmc.Parser()
    assert p.parse("| total batch size      | 524288                                             |") == TokensPerIter(524_288)
    assert p.parse("| train_num_batches     | 18865                                              |") == ConfigValue("max_iters", 18865)
    assert p.parse("| val_loss_every        | 250                                                |") == ConfigValue("eval_interval", 250)
    assert p.parse("| max_steps             | -1                                                 |") is None


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("step:13/6000 train_loss:9.8811 train_time:2049ms step_avg:682.95ms", Iteration(13, 9.8811, None, None, 6000, 2.049)),
        ("step:1/1390 train_time:90ms step_avg:90.29ms", Iteration(1, None, None, None, 1390, 0.09)),
        ("step:2/3350 train_time:0.290s step_avg:145.00ms", Iteration(2, None, None, None, 3350, 0.29)),
    ],
)
def test_modded_train_lines(line: str, want: Iteration) -> None:
    _same(modded.Parser().parse(line), want)


def test_modded_step_time_is_the_clock_difference() -> None:
    p = modded.Parser()
    p.parse("step:0/100 val_loss:10.8 train_time:0ms step_avg:0.04ms")
    one = p.parse("step:1/100 train_time:90ms step_avg:90.29ms")
    three = p.parse("step:3/100 train_time:150ms step_avg:50.08ms")
    assert isinstance(one, Iteration) and one.step_time_s == pytest.approx(0.09)
    assert isinstance(three, Iteration) and three.step_time_s == pytest.approx(0.03)  # two steps, 60 ms


def test_modded_source_templates_do_not_parse() -> None:
    p = modded.Parser()
    templates = [
        'step:{step}/{train_steps} val_loss:{val_loss:.4f} train_time:{training_time_ms:.0f}ms',
        'step:{step+1}/{args.num_iterations} train_loss:{train_loss.item():.4f} train_time:{approx_time:.0f}ms',
    ]
    assert [p.parse(t) for t in templates] == [None, None]
    assert not any(f.sniff(t) for f in FAMILIES.values() for t in templates)


# --- detection: each family's telling lines, and only its own ---

TELLING = {
    "nanogpt": ["iter 10: loss 3.1, time 20.0ms, mfu 30.00%", "step 250: train loss 1.9, val loss 2.0"],
    "nanochat": [
        "step 00100/21400 (0.47%) | loss: 4.1 | lrm: 1.00 | dt: 476.12ms | tok/sec: 1 | mfu: 48.61 | total time: 0.71m",
        "step 00001 (0.28%) | loss: 1.27 | lrm: 1.00 | dt: 14342.65ms | tok/sec: 36,554 | mfu: 1.61 | total time: 0.00m",
        "Step 00000/00651 | Training loss: 0.843050| lrm: 1.000000| num_tokens: 15,432",
        "Step 00000 | Validation bpb: 3.342033",
    ],
    "llmc": [
        "step    1/74 | loss 11.010252 (+nanz)| norm 15.1374 (+nanz)| lr 8.57e-07 | 4688.25 ms | 28.8% bf16 MFU | 1 tok/s",
        "s:0 trl:11.0091 lr:0.000001 norm:15.37",
        "s:250 tel:6.1710",
    ],
    "modded": [
        "step:0/6000 val_loss:11.0149 train_time:305ms step_avg:nanms",
        "step:1/1390 train_time:90ms step_avg:90.29ms",
        "step:125/3350 val_loss:4.66393 train_time:22.870s step_avg:182.95ms",
    ],
}


@pytest.mark.parametrize(("family", "line"), [(f, line) for f, lines in TELLING.items() for line in lines])
def test_each_telling_line_belongs_to_one_family(family: str, line: str) -> None:
    assert [name for name, f in FAMILIES.items() if f.sniff(line)] == [family]
    assert detect(line) == family


@pytest.mark.parametrize("line", ["Step 00765 | mmlu_acc: 0.3", "val loss 3.265413", "step 5", "", "s:abc tel:1"])
def test_lines_shared_or_unclear_detect_nothing(line: str) -> None:
    assert detect(line) is None


@pytest.mark.parametrize(
    "line",
    [
        "step:", "step 00001/", "Step 1/2 | Training loss: ", "s:1 trl:", "\x00\x01", "step" * 5000,
        "step 00001/00002 (1.2.3%) | loss: 1.0 | dt: 1.2.3ms | mfu: 4..5 | total time: .m",
        "step    1/74 | loss 1.0 | 1.2.3 ms | 4.5.6% bf16 MFU", "| total batch size | 1e999 |",
        "step:1/2 train_time:1e999ms step_avg:1ms", "^[[A^[[B",
    ],
)  # fmt: skip
def test_parsers_never_raise_on_broken_lines(line: str) -> None:
    for family in FAMILIES.values():
        family.make_parser().parse(line)


# --- what `--once` says ---


def test_once_summary_for_each_family(clock) -> None:
    chat = summary(load("nanochat/jonhenshaw_speedrun_gradnorm_aborted.log", clock).snapshot())
    assert "nanochat · run 2 of 2" in chat
    assert "iter 2,369 / 21,400 · 11.1% · 19,030 left" in chat
    assert "524,288 per iteration" in chat and "MFU 12.2% as printed" in chat
    modded_text = summary(load("modded_nanogpt/mng_2026-07-17_current_format.log", clock).snapshot())
    assert "· modded" in modded_text and "iter 1,390 / 1,390 · 100.0% · 0 left" in modded_text
    assert "loss      best val loss 3.2821 (7 evals)" in modded_text  # no "? (last step)": not printed
    sft = summary(load("nanochat/chirag9127_speedrun_d20.log", clock).snapshot())
    assert "iter 680 / 682 · done: 680 is the last step the log prints" in sft  # not "100.0% · 0 left"
    llm = summary(load("llmc/llmc_main_log_gpt2_124M_8xH100.log", clock).snapshot())
    assert "· llmc" in llm and "iter 19,559 / 19,560" in llm  # the total from the last validation


@pytest.mark.parametrize(
    ("name", "fmt", "iteration", "total", "run_index"),
    [
        ("nanochat/dwarkeshsp_speedrun_d20_8xH100.log", "nanochat", 649, 651, 2),
        ("nanochat/kwizzle_nanobot_gtx1660_newformat.log", "nanochat", 49, 49, 1),  # 49 at 100.00%
        ("llmc/llmc_stdout_gpt2_124M_A100_elided_fragment.log", "llmc", 19560, 19560, 0),
        ("llmc/llmc_main_log_gpt2_124M_8xH100.log", "llmc", 19559, 19560, 0),  # the last validation's step
        ("modded_nanogpt/mng_track3_val_only_seconds.log", "modded", 3350, 3350, 19),
    ],
)
def test_once_json_record_names_the_family(name: str, fmt: str, iteration: int, total: int | None, run_index: int, capsys) -> None:
    assert main([str(SAMPLES / name), "--once", "--json", "--no-gpu"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["format"], record["iter"], record["max_iters"], record["run_index"]) == (fmt, iteration, total, run_index)
    assert record["max_iters_source"] == ("log" if total is not None else None)


_NUMBERISH = st.text(alphabet=st.sampled_from("0123456789.-+eE,nai"), min_size=0, max_size=12)


@st.composite
def mangled_lines(draw: st.DrawFn) -> str:
    """A telling line of some family with every number replaced by number-like junk."""
    line = draw(st.sampled_from([line for lines in TELLING.values() for line in lines]))
    return re.sub(r"\d+(?:\.\d+)?", lambda _m: draw(_NUMBERISH), line)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(st.one_of(mangled_lines(), st.text(max_size=80)))
def test_parsers_never_raise_on_any_text(line: str) -> None:
    for family in FAMILIES.values():
        parser = family.make_parser()
        parser.parse(line)
        parser.parse(line)  # again, with the state the first line left
        family.sniff(line)


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_thousand_digit_step_numbers_are_noise_not_an_exception(family: str) -> None:
    big = "9" * 5000
    lines = [
        f"step {big}/{big} (0.5%) | loss: 1.0 | dt: 3ms", f"Step {big}/{big} | Training loss: 1.0",
        f"Step {big} | Validation bpb: 1.0", f"step {big}/{big} | loss 1.0 (+0.1z)| norm 1 (+0.1z)| lr 1e-4 | 3.00 ms",
        f"s:{big} trl:1.0", f"num_parameters: {big}", f"step:{big}/{big} train_time:100ms step_avg:1ms",
        f"step:{big}/{big} val_loss:1.0 train_time:100ms step_avg:1ms", f"Number of parameters: {big}",
        f"Total batch size {big} => gradient accumulation steps: 1", f"Resuming optimization from step {big}",
    ]  # fmt: skip
    parser = FAMILIES[family].make_parser()
    for line in lines:
        parser.parse(line)  # must not raise


def test_a_schedule_that_changes_the_step_time_is_said_until_its_last_change(clock) -> None:
    lines = (SAMPLES / "modded_nanogpt/mng_2026-07-17_current_format.log").read_text().splitlines()
    upto = next(i for i, line in enumerate(lines) if line.startswith("step:200/"))
    session = Session(Options(source="x"), clock)
    session.feed_many(lines[: upto + 1])
    assert "the schedule changes the step time at steps 460, 920, 1380: the finish assumes the current speed" in (
        session.snapshot().warnings
    )
    session.feed_many(lines[upto + 1 :])
    assert not any("schedule" in w for w in session.snapshot().warnings)  # finished
