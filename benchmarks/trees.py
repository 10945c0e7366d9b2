"""The benchmarks that compare this tree with baseline trees (e.g. `git archive main | tar -x -C
/tmp/base`) in the same run: their shared command-line options, the trees, and a child process
run on one tree."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def comparison_arguments(parser: argparse.ArgumentParser, baseline_required: bool = False) -> None:
    """--rounds (the trees take turns this many times), --markdown (rows for BENCHMARKS.md) and
    --baseline DIR ... (trees to compare with: one at least when `baseline_required`)."""
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--baseline", type=Path, nargs="+" if baseline_required else "*",
                        required=baseline_required, default=None if baseline_required else [],
                        help="trees to compare with (e.g. a git archive of main)")


def trees_of(opts: argparse.Namespace) -> list[tuple[str, Path]]:
    """(name, root): this tree first, then each --baseline by its path."""
    return [("this tree", ROOT), *((str(p), p) for p in opts.baseline)]


def child_figures(tree: Path, code: str, args: list[str]) -> dict[str, float]:
    """Run `python -c code args` with `tree` as its directory and PYTHONPATH, and return the JSON
    object on its last line of output; exits (with the child's stderr) when the child fails."""
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=tree, capture_output=True, check=False,
                          env={**os.environ, "PYTHONPATH": str(tree)})
    if done.returncode != 0:
        sys.exit(f"{tree}: the child failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    return json.loads(done.stdout.splitlines()[-1])
