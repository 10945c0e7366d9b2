"""`nanowatch --help` and argument errors import none of the run's machinery (numpy, the
parsers, textual): the command that needs them imports them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from monitor.cli import FORMAT_CHOICES
from monitor.core.formats import FORMAT_NAMES

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import contextlib, io, sys
from monitor.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    try:
        main(sys.argv[1:])
    except SystemExit:
        pass
heavy = sorted(m for m in ("numpy", "textual", "pynvml", "monitor.core.formats", "monitor.session") if m in sys.modules)
print(",".join(heavy))
"""


def test_format_choices_are_the_families() -> None:
    assert FORMAT_CHOICES == FORMAT_NAMES


def test_help_and_usage_errors_import_nothing_heavy() -> None:
    for argv in (["--help"], ["replay", "--help"], ["demo", "--help"], ["--price", "abc", "x.log"]):
        done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, capture_output=True, text=True,
                              check=True)
        assert done.stdout.strip() == "", (argv, done.stdout)
