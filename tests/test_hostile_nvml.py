"""NVML as a hostile source: names that are long, not UTF-8 or full of escapes, error strings
of many lines, the driver's all-ones "not available" readings, and errors the bindings raise
besides NVMLError (ctypes, OSError, UnicodeDecodeError) — each a bounded reason or an unknown
value, never a traceback or a made-up number; `--once` with such a library keeps its summary."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from test_gpu import FakeGpu, NVMLError, gpu_samples, stub_nvml

from monitor.sources.gpusource import Unavailable
from monitor.sources.nvml import open_nvml
from monitor.sources.problems import REASON_CHARS
from monitor.sources.smicsv import MAX_NAME_CHARS, MAX_VRAM_BYTES

ROOT = Path(__file__).resolve().parent.parent
LOG = ROOT / "sample_logs" / "nanogpt" / "wilcoooo_shakespeare_char_gpu_complete.log"


def _raising(error: BaseException):
    def call(*args, **kwargs):
        raise error
    return call


def test_a_name_past_what_nvml_can_hold_is_cut_like_every_sources() -> None:
    nvml = stub_nvml([FakeGpu(name="H100 " + "Z" * 5000)])
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(0.0))
    assert s.name is not None and len(s.name) == MAX_NAME_CHARS and s.name.endswith("…")


def test_a_name_the_bindings_cannot_decode_leaves_the_gpu_sampled() -> None:
    nvml = stub_nvml([FakeGpu()])
    nvml.nvmlDeviceGetName = _raising(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"))
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(0.0))
    assert (s.name, s.power_w, s.error) == (None, 250.0, None)


def test_an_error_the_bindings_raise_besides_nvmlerror_is_the_gpus_reason() -> None:
    gpus = [FakeGpu(), FakeGpu()]
    nvml = stub_nvml(gpus)
    source = open_nvml(nvml=nvml)
    nvml.nvmlDeviceGetPowerUsage = _raising(ctypes.ArgumentError("argument 1: wrong type"))
    first, second = gpu_samples(source.poll(1.0))
    assert first.error == "nvmlDeviceGetPowerUsage failed: ArgumentError: argument 1: wrong type"
    assert second.error == first.error
    nvml = stub_nvml([FakeGpu()])
    nvml.nvmlDeviceGetTemperature = _raising(TypeError())  # no message: the kind alone
    assert gpu_samples(open_nvml(nvml=nvml).poll(2.0))[0].error == "nvmlDeviceGetTemperature failed: TypeError"


def test_a_library_that_fails_to_start_with_an_oserror_is_unavailable() -> None:
    nvml = stub_nvml([FakeGpu()])
    nvml.nvmlInit = _raising(OSError(5, "Input/output error"))
    source = open_nvml(nvml=nvml)
    assert isinstance(source, Unavailable)
    assert source.status == "NVML failed to start: OSError: [Errno 5] Input/output error"
    nvml.nvmlShutdown = _raising(OSError(5, "Input/output error"))
    open_nvml(nvml=stub_nvml([FakeGpu()])).close()


def test_an_error_string_of_many_lines_is_one_short_line() -> None:
    class Unknown(NVMLError):
        message = "driver said \x1b]0;x\x07\n" + "y" * 5000

    nvml = stub_nvml([FakeGpu()])
    source = open_nvml(nvml=nvml)
    nvml.nvmlDeviceGetPowerUsage = _raising(Unknown())
    (s,) = gpu_samples(source.poll(0.0))
    assert s.error is not None and "\n" not in s.error
    assert len(s.error) == REASON_CHARS and s.error.startswith("driver said \x1b]0;x\x07 yyy")
    nvml.nvmlInit = _raising(Unknown())
    status = open_nvml(nvml=nvml).status or ""
    assert "\n" not in status and len(status) < REASON_CHARS + 30


def test_readings_no_gpu_can_give_are_unknown_not_numbers() -> None:
    """All ones is NVML's NVML_VALUE_NOT_AVAILABLE; a board at 4 MW, 4e9 % busy, -300 °C or with
    more memory used than it has is no reading: each is None, the others stand."""
    gpu = FakeGpu(power_mw=2**32 - 1, util=2**32 - 1, temp=-300, limit_mw=0)
    nvml = stub_nvml([gpu])
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(0.0))
    assert (s.power_w, s.util_pct, s.temp_c) == (None, None, None)
    assert s.power_limit_w == 0.0 and s.vram_used_bytes == gpu.used
    gpu.used, gpu.total = 2**64 - 1, 80 * 2**30
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(1.0))
    assert (s.vram_used_bytes, s.vram_total_bytes) == (None, 80 * 2**30)
    gpu.total = 0
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(2.0))
    assert (s.vram_used_bytes, s.vram_total_bytes) == (None, None)


def test_memory_past_what_any_gpu_has_is_no_reading_as_in_a_csv() -> None:
    """A total of 2^64-1 (or anything past smicsv's MAX_VRAM_BYTES, the bound the CSV and DCGM
    sources keep) is a garbled reading: unknown, never 16 EiB of VRAM on screen."""
    gpu = FakeGpu()
    nvml = stub_nvml([gpu])
    gpu.used, gpu.total = 2**30, 2**64 - 1
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(0.0))
    assert (s.vram_used_bytes, s.vram_total_bytes) == (None, None)
    gpu.used, gpu.total = int(MAX_VRAM_BYTES) + 1, int(MAX_VRAM_BYTES) + 2
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(1.0))
    assert (s.vram_used_bytes, s.vram_total_bytes) == (None, None)
    gpu.used, gpu.total = 2**30, int(MAX_VRAM_BYTES)
    (s,) = gpu_samples(open_nvml(nvml=nvml).poll(2.0))
    assert (s.vram_used_bytes, s.vram_total_bytes) == (2**30, int(MAX_VRAM_BYTES))


def _fake_pynvml(tmp_path: Path, body: str) -> dict[str, str]:
    (tmp_path / "pynvml.py").write_text(textwrap.dedent(body))
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(ROOT)])}


def test_once_with_bindings_that_break_keeps_the_summary(tmp_path: Path) -> None:
    env = _fake_pynvml(tmp_path, """
        class NVMLError(Exception):
            pass
        def nvmlInit():
            raise OSError(5, "Input/output error")
    """)
    out = subprocess.run([sys.executable, "-m", "monitor", str(LOG), "--once"], capture_output=True, text=True,
                         env=env, timeout=60, cwd=tmp_path, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    assert "status    finished" in out.stdout
    assert "GPU telemetry unavailable: NVML failed to start: OSError: [Errno 5] Input/output error" in out.stdout


def test_once_json_with_a_call_that_breaks_names_the_gpu_and_its_reason(tmp_path: Path) -> None:
    env = _fake_pynvml(tmp_path, """
        class NVMLError(Exception):
            pass
        def nvmlInit(): pass
        def nvmlShutdown(): pass
        def nvmlDeviceGetCount(): return 1
        def nvmlDeviceGetHandleByIndex(i): return i
        def nvmlDeviceGetName(h): return "NVIDIA H100\\x1b]0;x\\x07" + "Z" * 500
        def nvmlDeviceGetComputeRunningProcesses(h): return []
        def nvmlDeviceGetMemoryInfo(h): raise TypeError("wrong argument count")
    """)
    out = subprocess.run([sys.executable, "-m", "monitor", str(LOG), "--once", "--json"], capture_output=True,
                         text=True, env=env, timeout=60, cwd=tmp_path, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    record = json.loads(out.stdout)
    assert record["status"] == "finished" and record["iter"] == 3000
    (name,) = record["gpu_names"]
    assert name.startswith("NVIDIA H100\x1b]0;x\x07ZZ") and len(name) == MAX_NAME_CHARS
    assert "GPU 0: nvmlDeviceGetMemoryInfo failed: TypeError: wrong argument count" in record["warnings"]


def test_the_wrapper_packages_deprecation_warning_is_not_printed(tmp_path: Path) -> None:
    """`pip install pynvml` (12.x) warns on import that it is deprecated for nvidia-ml-py: three
    lines of stderr on every --once, for whoever installed it, not for the run's watcher."""
    env = _fake_pynvml(tmp_path, """
        import warnings
        warnings.warn("The pynvml package is deprecated. Please install nvidia-ml-py instead.", FutureWarning)
        class NVMLError(Exception):
            pass
        class NVMLError_LibraryNotFound(NVMLError):
            pass
        def nvmlInit():
            raise NVMLError_LibraryNotFound()
    """)
    out = subprocess.run([sys.executable, "-W", "default", "-m", "monitor", str(LOG), "--once"], capture_output=True,
                         text=True, env=env, timeout=60, cwd=tmp_path, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    assert "GPU telemetry unavailable: NVML library not found" in out.stdout


def test_a_pynvml_that_fails_as_it_loads_leaves_the_summary(tmp_path: Path) -> None:
    env = _fake_pynvml(tmp_path, """
        raise OSError("libnvidia-ml.so.1: cannot open shared object file")
    """)
    out = subprocess.run([sys.executable, "-m", "monitor", str(LOG), "--once"], capture_output=True, text=True,
                         env=env, timeout=60, cwd=tmp_path, check=False)
    assert (out.returncode, out.stderr) == (0, "")
    assert "status    finished" in out.stdout
    assert "unavailable: pynvml failed to load: OSError: libnvidia-ml.so.1: cannot open shared object file" in out.stdout
