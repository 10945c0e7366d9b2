"""A log with a hole of gigabytes (logrotate's copytruncate under a writer that keeps its file
offset: the truncated log is sparse up to where the writer was) is read without reading the
hole: the same lines as the log without it, in seconds instead of minutes."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from conftest import SAMPLES

from monitor.sources.logfile import iter_lines, next_data, read_lines, read_stream_blocks

LOG = SAMPLES / "recorded" / "compiled" / "run.log"
HOLE_BYTES = 8 << 30  # 8 GiB: read whole at ~1 GB/s, that would be the test's minutes


class CountingFile(io.FileIO):
    """A file that counts the bytes read from it."""

    read_bytes = 0

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        self.read_bytes += len(data)
        return data


@pytest.fixture
def sparse(tmp_path: Path) -> tuple[Path, list[bytes]]:
    lines = LOG.read_bytes().splitlines(keepends=True)
    path = tmp_path / "run.log"
    with open(path, "wb") as f:
        f.writelines(lines[:50])
        f.truncate(f.tell() + HOLE_BYTES)  # a hole: no disk used
        f.seek(0, os.SEEK_END)
        f.writelines(lines[50:200])
    fd = os.open(path, os.O_RDONLY)
    try:
        if next_data(fd, 4096 * 4) == 4096 * 4:
            pytest.skip("this file system does not tell holes apart (SEEK_DATA)")
    finally:
        os.close(fd)
    return path, [line.rstrip(b"\n") for line in lines[:200]]


def test_whole_file_readers_pass_over_the_hole(sparse: tuple[Path, list[bytes]]) -> None:
    path, want = sparse
    assert list(iter_lines(str(path))) == want
    lines, partial, _ = read_lines(str(path))
    assert (lines, partial) == (want, b"")


def test_once_reads_the_lines_not_the_hole(sparse: tuple[Path, list[bytes]]) -> None:
    path, want = sparse
    with CountingFile(path) as f:
        got = b"".join(read_stream_blocks(f, str(path))).splitlines()
        assert got == want
        assert f.read_bytes < 64 << 20  # the lines and the blocks around them, not 8 GiB of NULs


def test_a_hole_to_the_end_is_the_end(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    path.write_bytes(b"iter 0: loss 4.2000, time 900.00ms, mfu 1.00%\n")
    os.truncate(path, HOLE_BYTES)
    with CountingFile(path) as f:
        assert b"".join(read_stream_blocks(f, str(path))) == b"iter 0: loss 4.2000, time 900.00ms, mfu 1.00%\n"
        assert f.read_bytes < 64 << 20


@pytest.mark.parametrize("block_bytes", [1, 2, 3, 7, 4096])
def test_looking_for_holes_leaves_the_buffered_reader_where_it_was(tmp_path: Path, block_bytes: int) -> None:
    """SEEK_DATA moves the descriptor's offset: put back, a buffered reader reads on as it was
    (moved, it read the same bytes again and again)."""
    from monitor.sources.logfile import read_blocks

    path = tmp_path / "run.log"
    path.write_bytes(b"\r\n\niter 0: loss 4.2\niter 1: loss 4.1")
    got = b"".join(read_blocks(str(path), block_bytes=block_bytes)).splitlines()
    lines, partial, _ = read_lines(str(path))
    assert got == [*lines, partial]


def test_bytes_appended_while_looking_for_data_are_not_passed_over(tmp_path: Path, monkeypatch) -> None:
    """The follower looks for a hole at its read position, which is the file's end while it
    keeps up. A writer appending between the look (no data there: ENXIO) and the size read
    after it made the new bytes look like the end of a hole: they were skipped, steps lost."""
    from monitor.sources import logfile

    path = tmp_path / "run.log"
    path.write_bytes(b"iter 0: loss 4.0, time 10.00ms\n")
    end = path.stat().st_size
    real_lseek = os.lseek

    def appending_lseek(fd: int, pos: int, how: int) -> int:
        try:
            return real_lseek(fd, pos, how)
        finally:
            if how == getattr(os, "SEEK_DATA", None):  # the writer appends right after the look
                with open(path, "ab") as w:
                    w.write(b"iter 1: loss 3.9, time 10.00ms\n")

    monkeypatch.setattr(logfile.os, "lseek", appending_lseek)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert next_data(fd, end) == end  # the appended line starts there: nothing to pass over
    finally:
        os.close(fd)
