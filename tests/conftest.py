"""Shared test helpers: paths to the bundled sample logs and a fake clock."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from hypothesis import settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_logs"
DATA = Path(__file__).resolve().parent / "data"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, t: float = 1_800_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def sample_facts() -> dict[str, dict]:
    facts = json.loads((SAMPLES / "facts.json").read_text())
    return {k: v for k, v in facts.items() if not k.startswith("_")}


# Property tests explore the same examples on every run: CI is deterministic, and a failure
# seen once is seen again.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.load_profile("deterministic")


# A test run started in the background of a script inherits SIGINT ignored, and an ignored
# signal stays ignored across exec: the nanowatch processes that tests stop with Ctrl-C
# would never see it. A handler here is reset to the default in every child.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
