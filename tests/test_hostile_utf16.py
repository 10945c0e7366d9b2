"""UTF-16 logs (Windows PowerShell's `>` and `Tee-Object`: a byte-order mark, CRLF) and UTF-8
with a mark (Notepad, PowerShell 7's utf8BOM) are read as their text, not as UTF-8 with the
NULs dropped: a character whose UTF-16 code unit holds a 0x0A or 0x0D byte (上 is 0A 4E) no
longer breaks its line, non-ASCII text is itself, and a log followed as it grows is read right
whatever its writes cut (half a character, half a mark). A truncated log tells its encoding
again. What is read of a UTF-8 log is unchanged."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLES
from logwriter import Collector, wait_for
from test_tail import CountingClock

from monitor.core.lines import LineSplitter, sniff_encoding
from monitor.sources.logfile import iter_lines, read_lines
from monitor.sources.tail import Follower

#: A nanoGPT log with text a UTF-16 log breaks when its NULs are dropped: 上 (U+4E0A, code unit
#: 0A 4E), ഀ (U+0D00: a 0D byte), a block bar, a middle dot, an emoji (a surrogate pair).
TEXT = (
    "Overriding config with config/train_shakespeare_char.py:\n"
    "max_iters = 40\n"
    "数据集: 上海 ഀ · 🚀 ████\n"
    "iter 0: loss 4.2000, time 900.00ms, mfu -100.00%\n"
    "step 10: train loss 3.1000, val loss 3.2000\n"
    "iter 10: loss 3.0000, time 100.00ms, mfu 10.00%\n"
    "iter 20: loss 2.5000, time 100.00ms, mfu 10.00%\n"
)
LINES = [line.encode() for line in TEXT.splitlines()]

ENCODINGS = {
    "utf-16-le-bom": lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-8-bom": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "utf-8": lambda text: text.encode(),
}


def crlf(text: str) -> str:
    return text.replace("\n", "\r\n")


def split_all(data: bytes, size: int) -> list[bytes]:
    splitter = LineSplitter()
    out: list[bytes] = []
    for at in range(0, len(data), size):
        out += splitter.feed(data[at:at + size])
    return out + splitter.flush()


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 64, 1 << 20])
@pytest.mark.parametrize("ending", ["lf", "crlf"])
def test_every_encoding_reads_as_its_text_whatever_the_reads_cut(encoding: str, size: int, ending: str) -> None:
    text = crlf(TEXT) if ending == "crlf" else TEXT
    assert split_all(ENCODINGS[encoding](text), size) == LINES


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_a_last_line_without_newline_comes_out_at_the_end(encoding: str) -> None:
    assert split_all(ENCODINGS[encoding]("iter 0: loss 4.2\nab"), 3) == [b"iter 0: loss 4.2", b"ab"]


def test_a_short_stream_is_not_lost_waiting_for_its_encoding() -> None:
    for data, lines in ((b"a", [b"a"]), (b"ab", [b"ab"]), (b"a\n", [b"a"]), (b"\xef\xbb", [b"\xef\xbb"]),
                        (b"\xff\xfe", []), (b"\xef\xbb\xbf", [])):
        splitter = LineSplitter()
        assert splitter.feed(data) + splitter.flush() == lines, data
    splitter = LineSplitter()
    assert splitter.feed(b"ab") == [] and splitter.pending == b"ab"  # a follower shows it as the partial line


@pytest.mark.parametrize("encoding", ["utf-16-le-bom", "utf-16-be-bom"])
@pytest.mark.parametrize("size", [1, 3, 7, 4096])
@pytest.mark.parametrize("blob", [b"\xff", b"junk\n", b"\x00\x01\x02", b"\n"], ids=["byte", "utf8-line", "binary", "lf"])
def test_a_stray_odd_blob_garbles_its_line_not_the_rest(encoding: str, size: int, blob: bytes) -> None:
    """Another writer appends an odd number of bytes between two UTF-16 lines (or in one):
    every line after it is read right."""
    data = ENCODINGS[encoding](crlf(TEXT))
    cut = data.index("iter 10".encode(encoding[:9]))  # just before a step line
    got = split_all(data[:cut] + blob + data[cut:], size)
    steps = [line for line in got if line.startswith((b"iter ", b"step "))]
    assert b"iter 20: loss 2.5000, time 100.00ms, mfu 10.00%" in steps
    assert b"step 10: train loss 3.1000, val loss 3.2000" in steps and b"iter 0: loss 4.2000" in steps[0]
    assert got[:3] == LINES[:3]


def test_a_copytruncate_hole_stays_utf8_and_its_nuls_go() -> None:
    data = b"\0" * 4096 + b"iter 0: loss 4.2000, time 900.00ms, mfu 1.00%\n"
    assert sniff_encoding(data) == ("utf-8", 0)
    assert split_all(data, 100) == [data.strip(b"\0\n")]


def test_a_reset_tells_the_encoding_again() -> None:
    splitter = LineSplitter()
    assert splitter.feed(ENCODINGS["utf-16-le-bom"]("iter 0: a\n")) == [b"iter 0: a"]
    splitter.reset()  # the log was truncated and a UTF-8 run writes it now
    assert splitter.feed(b"iter 0: b\n") == [b"iter 0: b"]


@pytest.mark.parametrize("encoding", ["utf-16-le-bom", "utf-8-bom"])
def test_whole_file_readers_read_it_as_text(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(ENCODINGS[encoding](crlf(TEXT) + "iter 30: lo"))
    assert list(iter_lines(str(path))) == [*LINES, b"iter 30: lo"]
    lines, partial, _ = read_lines(str(path))
    assert (lines, partial) == (LINES, b"iter 30: lo")


def _once(path: Path) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "monitor", str(path), "--once", "--no-gpu"], capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONPATH": os.getcwd()}).stdout
    return out.splitlines()[1:]  # the first line names the file


def test_the_powershell_log_reads_as_its_utf8_copy(tmp_path: Path) -> None:
    ps = SAMPLES / "field" / "autoresearch_windows_gtx1050ti_powershell_utf16_crlf.log"
    copy = tmp_path / "copy.log"
    copy.write_bytes(ps.read_bytes().decode("utf-16").encode())
    assert _once(ps) == _once(copy)


def test_a_utf16_log_followed_as_it_grows_in_odd_writes(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    data = ENCODINGS["utf-16-le-bom"](crlf(TEXT))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    os.write(fd, data[:3])  # the mark and half a character
    got = Collector()
    follower = Follower(str(path), got.lines, got.error, CountingClock(), on_state=got.state, on_reset=got.reset,
                        poll=True, poll_interval_s=0.01, safety_poll_s=3600.0, partial_settle_s=3600.0)
    follower.start()
    try:
        at, sizes = 3, itertools.cycle((1, 2, 5, 7, 11, 3, 13, 40))  # writes that end mid-character
        while at < len(data):
            end = min(at + next(sizes), len(data))
            os.write(fd, data[at:end])
            at = end
            wait_for(lambda end=end: follower.position == end, what="the follower to read the write")
        wait_for(lambda: len(got.texts()) == len(LINES), what="every line")
        assert got.texts() == LINES
        # truncated, and a UTF-8 run writes the log now: its encoding is told again
        os.ftruncate(fd, 0)
        os.write(fd, b"iter 0: loss 4.1000, time 900.00ms, mfu 1.00%\n")
        wait_for(lambda: len(got.texts()) == len(LINES) + 1, what="the new run's line")
        assert got.texts()[-1] == b"iter 0: loss 4.1000, time 900.00ms, mfu 1.00%"
    finally:
        follower.stop()
        os.close(fd)


# --- nvidia-smi's CSV (--gpu-log) redirected by PowerShell ---------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16-le-bom", "utf-16-be-bom", "utf-8-bom", "utf-16-le"])
def test_a_gpu_log_in_utf16_or_with_a_mark_reads_as_its_utf8_copy(tmp_path: Path, encoding: str) -> None:
    from monitor.sources.gpulog import CsvFileSource

    csv = (SAMPLES / "recorded" / "compiled" / "gpu.smi.csv").read_text()
    plain = tmp_path / "plain.csv"
    plain.write_text(csv)
    marked = tmp_path / "marked.csv"
    marked.write_bytes(ENCODINGS[encoding](crlf(csv)))
    got, want = CsvFileSource(str(marked)), CsvFileSource(str(plain))
    assert got.status is None  # it was "the GPU log has no readable sample"
    assert list(got.stream(float("inf"))) == list(want.stream(float("inf")))


@pytest.mark.parametrize("name", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", ["iter 1: loss 2.0\r\niter 2: loss 1.9\n", TEXT, "上\n" * 3, "ഀ\rx\n"])
@pytest.mark.parametrize("stray", [b"", b"\n", b"\x0a\x00", b"\x00\x0d"])
def test_a_region_decoded_at_once_is_what_decoding_it_line_by_line_gives(name: str, text: str, stray: bytes) -> None:
    from monitor.core.lines import Utf16Lines

    decoder = Utf16Lines(name)
    region = text.encode(name) + stray + text.encode(name)
    by_line = "".join(line.decode(name, "replace") for line in decoder._split.split(region))
    assert decoder._decode(region) == by_line
