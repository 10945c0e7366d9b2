"""The rings, as packages: monitor.core is PURE, monitor.sources and the glue import no textual.

Every module under monitor.core is held to the PURE rule, so a new module there is checked by
default; import-linter (`.importlinter`, run below) keeps the same boundaries between packages.
"""

from __future__ import annotations

import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import monitor

GLUE = {"monitor.cli", "monitor.flags", "monitor.arguments", "monitor.offline", "monitor.session", "monitor.reading", "monitor.logcut", "monitor.inbox", "monitor.live", "monitor.multi",
        "monitor.alerting"}
FORBIDDEN_IN_PURE = {"textual", "watchdog", "pynvml", "rich", "prometheus_client"}
ROOT = Path(__file__).resolve().parent.parent


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(monitor.__path__, "monitor.")]
    return sorted(n for n in names if n != "monitor.__main__")


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


PURE = [m for m in _modules() if m.startswith("monitor.core")]
NO_TEXTUAL = [m for m in _modules() if m.startswith("monitor.sources") or m in GLUE]


def test_the_core_modules_are_classified_pure() -> None:
    for core in ("monitor.core.run", "monitor.core.estimate", "monitor.core.snapshot", "monitor.core.formats.nanogpt"):
        assert core in PURE


def test_every_module_belongs_to_a_ring() -> None:
    rings = ("monitor.core", "monitor.sources", "monitor.tui")
    assert [m for m in _modules() if not m.startswith(rings) and m not in GLUE] == []


@pytest.mark.parametrize("module", PURE)
def test_pure_ring_imports_no_ui_watcher_or_nvml(module: str) -> None:
    assert not FORBIDDEN_IN_PURE & _loaded_after_import(module)


@pytest.mark.parametrize("module", NO_TEXTUAL)
def test_adapters_and_glue_import_no_textual(module: str) -> None:
    assert "textual" not in _loaded_after_import(module)


def test_import_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    out = subprocess.run([lint, "--config", str(ROOT / ".importlinter")], check=False, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
