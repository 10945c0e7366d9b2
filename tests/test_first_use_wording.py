"""Wording a new user reads in --once, the panels and the events: nothing unknown printed as
'?', small shares with their digits, no contradictions, repeated warnings folded."""

from __future__ import annotations

import pytest
from conftest import SAMPLES, FakeClock
from test_app import sync, text_of
from tui_fakes import utc

from monitor.core import textfmt
from monitor.core.report import Options
from monitor.core.summary import summary
from monitor.session import Session
from monitor.tui.app import make_app
from monitor.tui.widgets.panels import TotalsPanel


@pytest.fixture(autouse=True)
def _utc():
    with utc():
        yield


def read(path, **options) -> Session:
    session = Session(Options(source=path.name, **options), FakeClock())
    session.feed_block(path.read_bytes())
    return session


def rows(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines()[1:]:
        key, _, value = line.strip().partition("  ")
        out.setdefault(key, []).append(value.strip())
    return out


@pytest.mark.parametrize(("fraction", "shown"), [
    (0.0001, "0.010%"), (0.00012, "0.012%"), (0.005, "0.50%"), (0.035, "3.5%"), (0.222, "22.2%"),
    (0.0, "0.0%"), (1.0, "100.0%"), (None, "?"),
])
def test_a_share_keeps_two_significant_digits(fraction, shown) -> None:
    assert textfmt.share(fraction) == shown


@pytest.mark.parametrize(("energy_j", "shown"), [
    (900.0, "0.00025 kWh"), (17_640.0, "0.0049 kWh"), (18_000.0, "0.0050 kWh"), (43_200.0, "0.012 kWh"),
    (444_240.0, "0.123 kWh"), (0.0, "0.000 kWh"), (None, "?"), (float("nan"), "?"),
])
def test_energy_keeps_two_significant_digits(energy_j, shown) -> None:
    assert textfmt.kwh(energy_j) == shown


def test_a_small_energy_is_not_zero_beside_its_cost() -> None:
    # the energy panel 10 s into a live run read "energy 0.000 kWh" over "cost 0.000037 USD"
    energy_j = 0.000037 / 0.15 * 3.6e6
    assert textfmt.kwh(energy_j) == "0.00025 kWh"
    assert textfmt.money(energy_j / 3.6e6 * 0.15, "USD") == "0.000037 USD"


def test_mfu_of_a_cpu_run_is_not_zero() -> None:
    text = summary(read(SAMPLES / "nanogpt/chenzihua_termux_cpu_nan_killed.log").snapshot())
    assert "MFU 0.010% as printed" in text and "MFU 0.0%" not in text


def test_no_loss_row_and_no_mfu_line_where_the_log_prints_neither(tmp_path) -> None:
    log = tmp_path / "steps.log"
    log.write_text("".join(f"step {i}/100 | time 0.5s\n" for i in range(3)))
    # a family-less log: only the summary's own facts, never "loss ?"
    text = summary(read(log).snapshot())
    assert "loss" not in rows(text)
    assert "?" not in "".join(v for vs in rows(text).values() for v in vs if "loss" in v)


@sync
async def test_totals_leave_out_mfu_and_loss_when_not_printed() -> None:
    # nanochat's SFT prints a loss but no MFU
    session = read(SAMPLES / "nanochat/dwarkeshsp_speedrun_d20_8xH100.log")
    app = make_app(session, handle_signals=False)
    async with app.run_test(size=(80, 24)):
        totals = text_of(app.totals_view)
        assert "MFU" not in totals and "?" not in totals.splitlines()[-1]
        assert totals.splitlines()[-1] == "loss 1.1076 · val loss 1.0118"


def test_llmc_fragment_speed_agrees_with_its_printed_times() -> None:
    text = summary(read(SAMPLES / "llmc/llmc_stdout_gpt2_124M_A100_elided_fragment.log").snapshot())
    r = rows(text)
    # step 1 is warm-up; steps 19559 and 19560 printed 4339.91 and 4367.96 ms: their mean is steady
    assert r["speed"][0].startswith("4353.9 ms/step (steady)")
    assert "step time unknown" not in text
    assert r["time"] == ["took ≈ 23 h 43 m (printed step times) · finished"]


def test_a_capture_from_step_0_without_config_is_not_mid_run() -> None:
    text = summary(read(SAMPLES / "nanogpt/jackokeefe11_enwik_char_bpc_wandb_output.log").snapshot())
    assert "max_iters not in the log, which has no config lines: finish unknown (pass --max-iters)" in text
    assert "mid-run" not in text


def test_a_log_that_starts_mid_run_still_says_so(tmp_path) -> None:
    lines = (SAMPLES / "nanogpt/jackokeefe11_enwik_char_bpc_wandb_output.log").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("iter 1000:"))
    log = tmp_path / "tail.log"
    log.write_text("\n".join(lines[first:]) + "\n")
    assert "which starts mid-run" in summary(read(log).snapshot())


def test_nanochat_sft_at_its_last_step_is_done_not_zero_left() -> None:
    snap = read(SAMPLES / "nanochat/dwarkeshsp_speedrun_d20_8xH100.log").snapshot()
    progress = rows(summary(snap))["progress"][0]
    assert progress == "iter 649 / 651 · done: 649 is the last step the log prints · 650 steps logged"
    assert "0 left" not in progress


def test_one_step_logged_is_singular() -> None:
    from monitor.core.snapshot import Snapshot

    snap = Snapshot(t=0.0, source="x", format="nanochat", status="training", run_index=0, iter=3000,
                    iters_done=1)
    assert rows(summary(snap))["progress"] == ["iter 3,000 · 1 step logged"]


def test_llmc_checkpoint_event_reads_as_a_checkpoint() -> None:
    snap = read(SAMPLES / "llmc/llmc_stdout_gpt2_124M_A100_elided_fragment.log").snapshot()
    checkpoints = [text for _, kind, text in snap.notes if kind == "checkpoint"]
    assert checkpoints == ["written at step 19560", "saved to log124M/model_00019560.bin"]
    assert not any("Writing" in text for text in checkpoints)


def test_a_repeated_multi_line_warning_folds_into_one_entry() -> None:
    warning = (b"/venv/torch/__init__.py:1617: UserWarning: Please use the new API settings to control TF32\n"
               b"  _C._set_float32_matmul_precision(precision)\n")
    session = Session(Options(), FakeClock())
    session.feed_block(warning * 12 + b"step 0: train loss 4.2, val loss 4.3\n" + warning * 2)
    notes = [(kind, text) for _, kind, text in session.snapshot().notes]
    tf32 = "UserWarning: Please use the new API settings to control TF32"
    assert notes[0] == ("warning", f"{tf32} × 12")
    assert notes[-1] == ("warning", f"{tf32} × 2")


def test_a_real_log_with_repeated_warnings_folds_them() -> None:
    snap = read(SAMPLES / "nanochat/chirag9127_speedrun_d20.log").snapshot()
    warnings = [text for _, kind, text in snap.notes if kind == "warning"]
    assert len(warnings) == 2 and all(text.endswith((" × 4", " × 3")) for text in warnings)


def test_totals_leave_out_what_the_log_does_not_give() -> None:
    # the panel read "params ? · ? tok/iter" / "tokens ? total · ?" before the config came, and for
    # good on a log that prints none (the README: a line the log gives nothing for is left out)
    starting = read(SAMPLES / "nanogpt/jackokeefe11_enwik_char_bpc_wandb_output.log").snapshot()
    assert (starting.params, starting.tokens_per_iter, starting.tokens_total) == (None, None, None)
    shown = TotalsPanel.text(starting).plain
    assert "?" not in shown and "params" not in shown and shown.startswith("loss 1.6912")
    full = read(SAMPLES / "nanogpt/wilcoooo_shakespeare_char_gpu_complete.log").snapshot()
    assert TotalsPanel.text(full).plain.splitlines()[:2] == ["params 800 k · 4,096 tok/iter",
                                                             "tokens 12.29 M total · 68.7 TFLOP"]
    from dataclasses import replace
    assert TotalsPanel.text(replace(full, params=None, flops_total=None)).plain.splitlines()[0] == \
        "tokens 4,096 tok/iter · 12.29 M total"
    empty = replace(full, params=None, tokens_per_iter=None, tokens_total=None, flops_total=None, loss=None,
                    val_loss=None, mfu=None)
    assert TotalsPanel.text(empty).plain == "no totals in the log yet"
