"""Impossible values on the command line and in a `--times` file: GPU indices no machine has,
a price of infinity or 10^308, an empty listen address (every interface), and times that are
no epoch seconds (10^15 would make a replay wait for ever, a negative one spans decades), a replay
speed of inf or 10^-300, and what was typed quoted short and written out. Each is one line on
stderr and exit 2 before anything starts."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor import cli, flags
from monitor.cli import main
from monitor.sources import smicsv
from monitor.sources.logfile import LogError

RUN = SAMPLES / "recorded" / "h200_gpt2_124M"
LOG = RUN / "run.log"


def _usage_error(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("nanowatch: ")
    return err


@pytest.mark.parametrize("value", ["-1", "1024", "99999999999999999999999", ",,,", "", "0,x", "0;1", "3-0", "0-1024",
                                   "0-", "-", "0--1", "all", "0-99999999999999999999"])
def test_gpu_indices_no_machine_has(value: str, capsys) -> None:
    err = _usage_error([str(LOG), "--once", "--gpus", value], capsys)
    assert "argument --gpus: expected GPU indices like 0,1" in err


def test_gpu_indices_a_machine_has() -> None:
    assert flags.gpu_indices("0") == (0,) and flags.gpu_indices(" 3, 1 ,") == (3, 1)
    assert flags.gpu_indices("1023") == (1023,)
    assert flags.gpu_indices("0-3") == (0, 1, 2, 3) and flags.gpu_indices("4-5,0") == (4, 5, 0)  # SLURM's ranges
    assert flags.gpu_indices("0,0,1-2,1") == (0, 1, 2)  # each GPU once: its power is not summed twice
    assert flags.MAX_GPU_INDEX == smicsv.MAX_GPU_INDEX  # one bound for the flag and the CSV


@pytest.mark.parametrize("value", ["inf", "1e308", "-0.1", "nan", "1e9", "abc"])
def test_a_price_that_is_no_price(value: str, capsys) -> None:
    err = _usage_error([str(LOG), "--once", "--price", value], capsys)
    assert "argument --price:" in err


def test_prices_people_pay(capsys) -> None:
    for value in ("0", "0.15", "35.5", "4000"):  # 4000: a currency with many units to the dollar
        assert flags.price(value) == float(value)


@pytest.mark.parametrize("value", ["", "  ", "[]", "[ ]"])
def test_an_empty_metrics_address_is_refused(value: str) -> None:
    # parsed only: a command that got past it would serve on every interface and follow for ever
    main_parser, _, _ = cli.build_parsers()
    with pytest.raises(cli.UsageError, match="argument --metrics-addr: expected an address"):
        main_parser.parse_args([str(LOG), "--jsonl", "--metrics-port", "9464", "--metrics-addr", value])


def test_an_ipv6_address_in_a_urls_brackets_is_the_address() -> None:
    assert (flags.address("[::1]"), flags.address(" ::1 "), flags.address("0.0.0.0")) == ("::1", "::1", "0.0.0.0")


def test_metrics_on_port_0_is_refused_for_no_scraper_could_find_it(capsys) -> None:
    # before, the system picked a port and nothing said which
    err = _usage_error([str(LOG), "--jsonl", "--metrics-port", "0"], capsys)
    assert err == "nanowatch: error: --metrics-port 0: give the port for Prometheus to scrape, such as 9464\n"


@pytest.mark.parametrize(("bad", "shown"), [("1e15", "1e+15"), ("-1e9", "-1e+09"), ("nan", "nan"), ("inf", "inf")])
def test_times_that_are_no_epoch_seconds(tmp_path: Path, capsys, bad: str, shown: str) -> None:
    times = (RUN / "run.times").read_text().split()
    times[50] = bad
    path = tmp_path / "run.times"
    path.write_text("\n".join(times) + "\n")
    err = _usage_error(["replay", str(LOG), "--times", str(path), "--once"], capsys)
    assert err == f"nanowatch: {path}:51: {shown} is not a time in epoch seconds (1970 to 2286)\n"
    # --jsonl at real speed, on an injected clock: before, 1e15 made it sleep for 31 million years
    _, parser, _ = cli.build_parsers()
    slept: list[float] = []
    with pytest.raises(LogError):
        cli.replay(parser.parse_args([str(LOG), "--times", str(path), "--jsonl", "--no-gpu"]),
                   clock=lambda: 1_800_000_000.0, sleep=slept.append)
    assert slept == []


def test_recorded_times_replay_as_before(capsys) -> None:
    assert main(["replay", str(LOG), "--times", str(RUN / "run.times"), "--speed", "0", "--once", "--json"]) == 0
    assert '"iter":300' in capsys.readouterr().out


@pytest.mark.parametrize("value", ["-1", "nan", "inf", "1e-300", "0.001"])
def test_a_replay_speed_that_never_ends_or_is_none(value: str, capsys) -> None:
    """inf was shown as `replay at inf×`, 1e-300 would play for 10^300 times the run."""
    for command in (["replay", str(LOG)], ["demo"]):
        err = _usage_error([*command, "--once", "--speed", value], capsys)
        assert "argument --speed: expected 0 (as fast as possible) or a speed from 0.01" in err


def test_replay_speeds_people_use(capsys) -> None:
    for value in ("0", "0.01", "0.5", "1", "60", "1e9"):
        assert flags.speed(value) == float(value)
    assert main(["replay", str(LOG), "--once", "--no-gpu", "--speed", "0.5"]) == 0
    assert "iter 300" in capsys.readouterr().out


@pytest.mark.parametrize("flag", ["--interval", "--gpu-interval"])
def test_a_period_past_a_day_is_refused_in_one_line(flag: str, capsys) -> None:
    # 1e10 s was past threading's TIMEOUT_MAX: --jsonl died in its first wait with an OverflowError
    for value in ("86401", "1e10", "1e300"):
        err = _usage_error([str(LOG), "--jsonl", flag, value], capsys)
        assert err == f"nanowatch: error: argument {flag}: must be at most 86400 seconds (a day): {value}\n"
    for value in ("0.01", "1", "60", "86400"):
        assert flags.period_s(value) == float(value)


@pytest.mark.parametrize(("argv", "shown"), [
    (["--max-iters=-5\n"], "must be above 0: -5\n"),  # int() and float() take the whitespace around a number
    (["--pue", " " * 100_000 + "0.5"], "facility energy / IT energy): 0.5\n"),
    (["--interval=-1\r\n"], "must be at least 0.01 seconds: -1\n"),
    (["--speed", "\x1b[2J"], "expected a number: '\\x1b[2J'\n"),  # written out once, not doubled by repr()
    (["--max-iters", "9" * 100_000 + "x"], "expected a whole number: '" + "9" * 39 + "…'\n"),
    (["--gpus", "\u202e1"], "expected GPU indices like 0,1 or 0-3: '\\u202e1'\n"),
])
def test_what_was_typed_is_quoted_short_and_written_out(argv: list[str], shown: str, capsys) -> None:
    err = _usage_error(["demo", "--once", *argv], capsys)
    assert err.endswith(shown) and len(err) < 200


@pytest.mark.parametrize(("flag", "value", "said"), [
    ("--max-iters", "99999999999999999999999", "must be at most 10^15"),
    ("--dataset-tokens", "1000000000000001", "must be at most 10^15"),
    ("--pue", "1e308", "a PUE is from 1 to 10"),
    ("--pue", "10.5", "a PUE is from 1 to 10"),
])
def test_a_count_or_pue_no_run_has(flag: str, value: str, said: str, capsys) -> None:
    err = _usage_error([str(LOG), "--once", flag, value], capsys)
    assert f"argument {flag}: {said}" in err


def test_the_largest_count_is_the_largest_step() -> None:
    from monitor.core.run import MAX_STEP

    assert flags.MAX_COUNT == MAX_STEP
    assert flags.whole_number(str(MAX_STEP)) == MAX_STEP and flags.pue("10") == 10.0


@pytest.mark.parametrize(("typed", "count"), [
    ("5000", 5000), ("5_000", 5000), ("5e3", 5000), ("5k", 5000), ("5K", 5000), ("1.5M", 1_500_000),
    ("9B", 9 * 10**9), ("9G", 9 * 10**9), ("2T", 2 * 10**12), (" 7 ", 7), ("5.0", 5), ("1e15", 10**15),
])
def test_counts_as_configs_and_papers_write_them(typed: str, count: int) -> None:
    assert flags.whole_number(typed) == count


@pytest.mark.parametrize(("typed", "said"), [
    ("1,000", "expected a whole number: '1,000' (no separators: 1000)"),
    ("1.5", "expected a whole number: 1.5"),
    ("5__0", "expected a whole number: '5__0'"),
    ("0x10", "expected a whole number: '0x10'"),
    ("nan", "expected a whole number: 'nan'"),
    ("inf", "expected a whole number: 'inf'"),
    ("1e999999999", "must be at most 10^15"),  # no decimal.Overflow from scaling it
    ("1e999999999T", "must be at most 10^15"),
    ("1e-999999999", "must be above 0"),  # rounds to 0 when scaled: not a count of 0
    ("-5k", "must be above 0"),
    ("9" * 5000, "must be at most 10^15"),  # past int()'s 4300-digit limit, still said right
])
def test_counts_no_run_has_are_refused_in_words(typed: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="^" + re.escape(said)):
        flags.whole_number(typed)


def test_a_decimal_comma_in_a_number_says_how_to_write_it(capsys) -> None:
    err = _usage_error([str(LOG), "--once", "--price", "0,25"], capsys)
    assert err.endswith("expected a number: '0,25' (digits and a decimal point only: 0.25, 1000)\n")


@pytest.mark.parametrize(("typed", "said"), [
    ("CHF/kWh", "the money alone, the price is per kWh already (--currency CHF): 'CHF/kWh'"),
    ("US D", "expected a currency like USD or €: 'US D'"),
    ("ＵＳＤＵＳＤ", "expected a currency like USD or €"),  # 12 cells: the cost lines would not fit their pane
    ("🙂" * 5, "expected a currency like USD or €"),
])
def test_a_currency_that_is_a_unit_or_too_wide_is_refused(typed: str, said: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="^" + re.escape(said)):
        flags.currency(typed)


@pytest.mark.parametrize("typed", ["€", "ＵＳＤ", "🙂" * 4, "e\u0301" * 8, "EUR", "BTC"])
def test_currencies_of_up_to_eight_cells_are_taken(typed: str) -> None:
    assert flags.currency(typed) == typed


@pytest.mark.parametrize(("url", "said"), [
    ("http://node:abc/metrics", "port 'abc' is not a port number"),
    ("http://node:9400x/metrics", "port '9400x' is not a port number"),
    ("http://user:secret@node:1a/metrics", "port '1a' is not a port number"),
    ("prom+http://[::1]:x9", "port 'x9' is not a port number"),
    ("http://node:99999/metrics", "port '99999' is not a port number"),
    ("http://node:0/metrics", "port '0' is not a port number"),
    ("http://[::1/metrics", "an IPv6 address goes whole in brackets"),
])
def test_a_gpu_source_port_that_is_no_port_is_said_in_our_words(url: str, said: str, capsys) -> None:
    err = _usage_error([str(LOG), "--once", "--gpu-source", url], capsys)
    assert err.startswith("nanowatch: error: --gpu-source '") and said in err
    assert "could not be cast" not in err and "out of range" not in err and "Invalid" not in err
    assert "secret" not in err  # the password of a URL is not shown
