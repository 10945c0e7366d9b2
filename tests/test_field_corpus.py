"""The field corpus (issue 12): every real-world log in sample_logs/field/ gives the facts read from it by hand.

Each fact is its own test case, so a failure names the file, the key, the value wanted and the value read.
Only `monitor.cli` is imported: the package layout behind it may change.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from monitor.cli import main

ROOT = Path(__file__).resolve().parent.parent
FIELD = ROOT / "sample_logs" / "field"
FACTS: dict[str, dict] = {k: v for k, v in json.loads((FIELD / "facts.json").read_text()).items()
                          if not k.startswith("_")}

# Keys for people, not checked.
NOT_CHECKED = {"kind", "note"}
EXACT = ("format", "status", "iter", "max_iters", "max_iters_source", "tokens_per_iter")
APPROX = {"step_time_s_approx": ("step_time_s", 0.05), "eval_time_s_approx": ("eval_time_s", 0.15),
          "eta_remaining_s_approx": ("eta_remaining_s", 0.15)}
# Checked by the named tests below, not through --once --json.
SEPARATE = {"first_run_status": "test_first_run_status_through_replay",
            "follow_iter": "test_follow_reads_the_last_line_without_newline",
            "finished_at_iter": "test_finished_only_at_its_last_step_through_replay"}


def _run_cli(argv: list[str], capsys) -> str:
    capsys.readouterr()
    rc: int | str | None
    try:
        rc = main(argv)
    except SystemExit as ex:  # argparse or a front end may exit instead of returning
        rc = ex.code
    out = capsys.readouterr().out
    assert rc in (0, None), f"nanowatch {' '.join(argv)} exited {rc}"
    return out


_records: dict[str, dict] = {}
_summaries: dict[str, str] = {}


def _fresh_copy(name: str) -> str:
    """The log as if it had just been written: a status fact is what the log shows, not how long ago the
    checkout wrote the file (an old file's mtime would make a cut-off log 'stalled')."""
    folder = Path(tempfile.mkdtemp(prefix="field-"))
    shutil.copyfile(FIELD / name, folder / name)
    return str(folder / name)


def _once(name: str, capsys, *flags: str) -> str:
    path = _fresh_copy(name)
    try:
        return _run_cli([path, "--once", *flags, "--no-gpu"], capsys)
    finally:
        shutil.rmtree(Path(path).parent)


def record(name: str, capsys) -> dict:
    if name not in _records:
        _records[name] = json.loads(_once(name, capsys, "--json"))
    return _records[name]


def summary(name: str, capsys) -> str:
    if name not in _summaries:
        _summaries[name] = _once(name, capsys)
    return _summaries[name]


def _cases() -> list[tuple[str, str]]:
    return [(name, key) for name, facts in sorted(FACTS.items()) for key in facts
            if key not in NOT_CHECKED and key not in SEPARATE]


def _check(name: str, key: str, want, capsys) -> None:
    r = record(name, capsys)
    if key in EXACT:
        assert r.get(key) == want, f"{key}: read {r.get(key)!r}, want {want!r}"
    elif key in ("val_loss", "loss"):
        got = r.get(key)
        assert got is not None and math.isclose(got, want, rel_tol=1e-6), f"{key}: read {got!r}, want {want!r}"
    elif key in APPROX:
        field, tol = APPROX[key]
        got = r.get(field)
        assert got is not None and abs(got - want) <= tol * abs(want), f"{field}: read {got!r}, want ~{want!r}"
    elif key == "run_count":
        got = None if r.get("run_index") is None else r["run_index"] + 1
        assert got == want, f"run_count: read {got!r} (run_index {r.get('run_index')!r}), want {want!r}"
    elif key == "error_contains":
        err = r.get("error") or ""
        assert want in err, f"error: read {err[:160]!r}, want it to contain {want!r}"
    elif key == "error_not_contains":
        err = r.get("error") or ""
        assert want not in err, f"error: read {err[:160]!r}, must not contain {want!r}"
    elif key == "warnings_contain":
        warnings = r.get("warnings") or []
        assert any(want.lower() in w.lower() for w in warnings), f"warnings: read {warnings!r}, want {want!r}"
    elif key == "says_unrecognized":
        warnings = r.get("warnings") or []
        assert any("recogni" in w.lower() for w in warnings), f"warnings: read {warnings!r}, want one saying no line was recognised"
    elif key == "loss_last_finite":
        text = summary(name, capsys)
        numbers = {float(x) for x in re.findall(r"\d+\.\d+", text)}
        assert any(math.isclose(x, want, abs_tol=5e-4) for x in numbers), f"--once summary does not show {want}:\n{text}"
    else:
        pytest.fail(f"facts.json: unknown fact {key!r} for {name}")


@pytest.mark.parametrize(("name", "key"), _cases(), ids=[f"{n}:{k}" for n, k in _cases()])
def test_field_fact(name: str, key: str, capsys) -> None:
    _check(name, key, FACTS[name][key], capsys)


def _replay_records(name: str, capsys) -> list[dict]:
    """The records `replay --speed 0 --jsonl --no-gpu` writes for the field log `name`."""
    out = _run_cli(["replay", str(FIELD / name), "--speed", "0", "--jsonl", "--no-gpu"], capsys)
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


FIRST_RUN = sorted(n for n, f in FACTS.items() if "first_run_status" in f)


@pytest.mark.parametrize("name", FIRST_RUN)
def test_first_run_status_through_replay(name: str, capsys) -> None:
    want = FACTS[name]["first_run_status"]
    records = _replay_records(name, capsys)
    seen = sorted({r.get("status") for r in records if r.get("run_index") == 0})
    assert want in seen, f"run 0 was {seen}, never {want!r}"


FINISHED_AT = sorted(n for n, f in FACTS.items() if "finished_at_iter" in f)


@pytest.mark.parametrize("name", FINISHED_AT)
def test_finished_only_at_its_last_step_through_replay(name: str, capsys) -> None:
    """A replay shows the run finished first at this step, never before (other ranks' ends are no end)."""
    want = FACTS[name]["finished_at_iter"]
    records = _replay_records(name, capsys)
    finished = [r.get("iter") for r in records if r.get("status") == "finished"]
    assert finished and finished[0] == want, f"first finished at iter {finished[:1]}, want {want}"


FOLLOW = sorted(n for n, f in FACTS.items() if "follow_iter" in f)


@pytest.mark.parametrize("name", FOLLOW)
def test_follow_reads_the_last_line_without_newline(name: str) -> None:
    """Following (--jsonl) must read a last line without newline once the file has been quiet (kind K)."""
    want = FACTS[name]["follow_iter"]
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "monitor", str(FIELD / name), "--jsonl", "--no-gpu"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert proc.stdout is not None
    iters: list[int | None] = []
    deadline = time.monotonic() + 60.0  # against a hang, not a speed requirement
    try:
        while want not in iters and time.monotonic() < deadline:
            line = proc.stdout.readline()  # records come at least every --interval
            if not line:
                break
            if line.startswith("{"):
                iters.append(json.loads(line).get("iter"))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert want in iters, f"--jsonl showed iters {sorted({i for i in iters if i is not None})}, never {want}"


def _manifest_files() -> set[str]:
    text = (FIELD / "MANIFEST.md").read_text()
    return set(re.findall(r"^\| `([^`]+)` \|", text, flags=re.MULTILINE))


def test_facts_and_manifest_list_the_same_files() -> None:
    assert _manifest_files() == set(FACTS)


def test_every_file_in_the_corpus_is_listed() -> None:
    on_disk = {p.name for p in FIELD.iterdir() if p.is_file() and p.name not in ("facts.json", "MANIFEST.md")}
    assert on_disk == set(FACTS)


def test_every_fact_is_known() -> None:
    known = NOT_CHECKED | set(EXACT) | set(APPROX) | set(SEPARATE) | {
        "val_loss", "loss", "run_count", "error_contains", "error_not_contains", "warnings_contain", "says_unrecognized",
        "loss_last_finite"}
    unknown = {(n, k) for n, f in FACTS.items() for k in f if k not in known}
    assert not unknown
    assert all("kind" in f for f in FACTS.values())
