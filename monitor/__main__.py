"""`python -m monitor` is the `nanowatch` command (`run` is its entry point)."""

from __future__ import annotations

import os
import sys


def run() -> int:
    """main(), with a one-line error (exit 2) when the program cannot even load: a `ulimit -v`
    too low for numpy's shared libraries is an ImportError or a MemoryError at import."""
    # nanowatch does no BLAS work: one OpenBLAS thread spares memory (its per-thread buffers
    # abort the process when `ulimit -v` is low) and the training box's cores.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        from monitor.cli import main
    except (ImportError, MemoryError, OSError) as e:  # OSError: no descriptor left to read a module
        if sys.stderr is not None:
            print(f"nanowatch: error: {load_failure(e)}", file=sys.stderr)
        return 2
    return main()


def load_failure(e: BaseException) -> str:
    """One line for a library that would not load: a module that is not there (an install
    that is incomplete, or a site-packages this user cannot read) is said to be missing; a
    library that failed to map is most often a `ulimit -v` too low."""
    cause = e.__cause__ or e
    if isinstance(cause, ModuleNotFoundError) or isinstance(e, ModuleNotFoundError):
        missing = cause if isinstance(cause, ModuleNotFoundError) else e
        name = getattr(missing, "name", None) or "a module"
        return f"cannot load {name}: not installed for {sys.executable}, or not readable by this user (reinstall nanowatch)"
    reason = next((line for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
    return f"cannot load ({reason}); is ulimit -v too low?"


if __name__ == "__main__":
    sys.exit(run())
