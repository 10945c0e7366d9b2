"""The PURE ring imports no UI, file-watching or NVML library; adapters import no textual.

Every module of the package is PURE unless listed here as an adapter or as UI, so a new
module is held to the strictest rule by default.
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import pytest

import monitor

ADAPTERS = {
    "monitor.__main__", "monitor.cli", "monitor.session", "monitor.logfile", "monitor.replay",
    "monitor.tail", "monitor.stdin", "monitor.live", "monitor.gpu", "monitor.dcgm", "monitor.metrics", "monitor.player",
    "monitor.multi",
}  # fmt: skip
UI_PREFIXES = ("monitor.app", "monitor.widgets", "monitor.multi_app")
FORBIDDEN_IN_PURE = {"textual", "watchdog", "pynvml", "rich", "prometheus_client"}


def _modules() -> list[str]:
    names = [m.name for m in pkgutil.walk_packages(monitor.__path__, "monitor.")]
    return sorted(n for n in names if n != "monitor.__main__")


def _classify(name: str) -> str:
    if name.startswith(UI_PREFIXES):
        return "ui"
    return "adapter" if name in ADAPTERS else "pure"


def _loaded_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


PURE = [m for m in _modules() if _classify(m) == "pure"]
ADAPTER_MODULES = [m for m in _modules() if _classify(m) == "adapter"]


def test_the_core_modules_are_classified_pure() -> None:
    for core in ("monitor.run", "monitor.estimate", "monitor.snapshot", "monitor.formats.nanogpt"):
        assert core in PURE


@pytest.mark.parametrize("module", PURE)
def test_pure_ring_imports_no_ui_watcher_or_nvml(module: str) -> None:
    assert not FORBIDDEN_IN_PURE & _loaded_after_import(module)


@pytest.mark.parametrize("module", ADAPTER_MODULES)
def test_adapters_import_no_textual(module: str) -> None:
    assert "textual" not in _loaded_after_import(module)
