"""Read a whole log file once (for `--once` and the cold start of a follower).

ADAPTER ring: file I/O, no textual. Errors become LogError with a one-line reason.
"""

from __future__ import annotations

import errno
import glob
import os
import select
import stat
from collections.abc import Iterator
from typing import BinaryIO

from monitor.core.lines import LineSplitter
from monitor.core.sanitise import unicode_safe


class LogError(Exception):
    """A log that cannot be read; str() is a one-line reason for the user."""


#: What a training log is called by the trainers and launchers seen (train.log, wandb's output.log,
#: build-nanogpt's log.txt, SLURM's slurm-N.out and .err): the suffixes a directory's logs are told by.
LOG_SUFFIXES = (".log", ".txt", ".out", ".err")
#: Entries of a directory looked at for its newest log: a huge directory is not read whole.
DIR_SCAN_MAX = 10_000


def check_readable(path: str) -> os.stat_result:
    if not path:
        raise LogError("the file name is empty")
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise LogError(f"{path}: no such file{_pattern_hint(path)}") from None
    except OSError as e:
        raise LogError(f"{path}: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise LogError(f"{path}: is a directory, not a log file{_newest_log_hint(path)}")
    if not os.access(path, os.R_OK):
        raise LogError(f"{path}: permission denied")
    return st


def check_regular(path: str, stdin_hint: bool = True) -> os.stat_result:
    """check_readable(), and a regular file: a FIFO blocks until its writer closes it, and a
    device (/dev/zero, /dev/urandom, a tty) never ends. `stdin_hint`: the reason says how
    to read it as stdin instead (for the log; a --gpu-log or --times file has no such way)."""
    st = check_readable(path)
    if stat.S_ISREG(st.st_mode):
        return st
    kind = "is a FIFO" if stat.S_ISFIFO(st.st_mode) else "not a regular file"
    raise LogError(f"{path}: {kind}; read it as stdin instead: nanowatch - < {path}" if stdin_hint else f"{path}: {kind}")


def check_followable(path: str) -> None:
    """Refuse a log that can never be followed (LogError, one line): an empty name, a name too
    long, a path through a file, a directory, a FIFO or device, an unreadable file. A log that
    does not exist yet (or a link to one) is waited for: no error."""
    if path == "-":
        return
    if not path:
        raise LogError("the log's name is empty")
    try:
        os.stat(path)
    except FileNotFoundError:
        if _pattern_hint(path):  # a quoted pattern that matches logs: waiting for its literal name helps nobody
            raise LogError(f"{path}: no such file{_pattern_hint(path)}") from None
        return
    except OSError as e:  # ENAMETOOLONG, ENOTDIR, ELOOP, EACCES on a directory above it
        raise LogError(f"{path}: {e.strerror or e}") from None
    st = check_readable(path)
    if not stat.S_ISREG(st.st_mode):
        raise LogError(f"{path}: not a regular file; pipe it instead: nanowatch - < {path}")
    if st.st_size == 0 and _sizeless(path):
        raise LogError(f"{path}: a file that says it is empty but is not (/proc, /sys): its text is made anew "
                       f"at each read, it cannot be followed; nanowatch {path} --once reads it as it is now")


def _pattern_hint(path: str) -> str:
    """For a name that is a shell pattern matching files (`'logs/*.log'` quoted, so the shell
    passed it as it is): what to type instead; else ""."""
    if not any(c in path for c in "*?["):
        return ""
    try:
        matches = [m for m in sorted(glob.iglob(path)) if os.path.isfile(m)][:3]
    except (OSError, ValueError):  # an unreadable directory on the way, a NUL: no hint, the error stands
        return ""
    if not matches:
        return ""
    shown = ", ".join(matches[:2]) + (", …" if len(matches) > 2 else "")
    return f"; as a pattern it matches {shown}: leave out the quotes and the shell passes them"


def _newest_log_hint(path: str) -> str:
    """For a directory given as the log: its newest file that looks like a log, as the command
    to type; else ""."""
    newest: tuple[float, str] | None = None
    try:
        with os.scandir(path) as entries:
            for i, entry in enumerate(entries):
                if i >= DIR_SCAN_MAX:
                    break
                if entry.name.endswith(LOG_SUFFIXES) and entry.is_file():
                    mtime = entry.stat().st_mtime
                    if newest is None or mtime > newest[0]:
                        newest = (mtime, entry.path)
    except OSError:  # unreadable: the directory error alone
        return ""
    return "" if newest is None else f"; its newest log: nanowatch {newest[1]}"


def _sizeless(path: str) -> bool:
    """True for a file of a pseudo file system (/proc, /sys): size 0, yet a read gives text. A
    log just created and being written is not one: once it has text, its size says so."""
    try:
        with open(path, "rb") as f:
            if not f.read(1):
                return False
        return os.stat(path).st_size == 0
    except OSError:
        return False  # the follower says what is wrong


def next_data(fd: int, pos: int) -> int:
    """Where the bytes that are not a hole start, from `pos` on (lseek SEEK_DATA): a sparse
    file's hole (logrotate's copytruncate under a writer that keeps its offset leaves one of
    as many gigabytes as the log had) reads as NULs, which no line holds. `pos` itself where
    the file system or the platform cannot tell; the file's end when only a hole is left (its
    end before the look: bytes a writer appends meanwhile are data, never passed over)."""
    seek_data = getattr(os, "SEEK_DATA", None)
    if seek_data is None:
        return pos
    try:
        here = os.lseek(fd, 0, os.SEEK_CUR)  # put back after: a buffered reader owns the offset
        size = os.fstat(fd).st_size
    except OSError:
        return pos
    try:
        return os.lseek(fd, pos, seek_data)
    except OSError as e:
        if e.errno == errno.ENXIO:  # no data from `pos` on: at the end, or a hole to the end
            return max(pos, size)
        return pos
    finally:
        os.lseek(fd, here, os.SEEK_SET)


def file_blocks(f: BinaryIO, block_bytes: int) -> Iterator[bytes]:
    """The bytes of an open file in blocks of `block_bytes`, its holes passed over (next_data):
    the lines read are the same, without reading gigabytes of NULs. A stream that is not a
    regular file (stdin from a pipe) is read as it comes."""
    regular = _regular(f)
    while True:
        if regular:
            pos = f.tell()
            if (start := next_data(f.fileno(), pos)) > pos:
                f.seek(start)
        block = f.read(block_bytes)
        if not block:
            return
        yield block


def _regular(stream: BinaryIO) -> bool:
    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (OSError, ValueError, AttributeError):
        return False


def read_lines(path: str, stdin_hint: bool = True) -> tuple[list[bytes], bytes, float]:
    """All complete lines of `path`, the partial last line (or b""), and its mtime."""
    st = check_regular(path, stdin_hint)
    splitter = LineSplitter()
    lines: list[bytes] = []
    try:
        with open(path, "rb") as f:
            # In blocks: a runaway line is bounded as it is read (LineSplitter), never held whole.
            for block in file_blocks(f, BLOCK_BYTES):
                lines += splitter.feed(block)
        lines += splitter.feed(b"", final=True)  # what the stream's start or a UTF-16 decoder held
    except OSError as e:
        raise LogError(f"{path}: {e.strerror or e}") from None
    return lines, splitter.pending, st.st_mtime


def iter_lines(path: str, stdin_hint: bool = True) -> Iterator[bytes]:
    """Every line of `path` in order, the last one even without a newline, read in blocks:
    memory holds one block, never the file. LogError (one line) when it cannot be read."""
    check_regular(path, stdin_hint)
    splitter = LineSplitter()
    try:
        with open(path, "rb") as f:
            for block in file_blocks(f, BLOCK_BYTES):
                yield from splitter.feed(block)
    except OSError as e:
        raise LogError(f"{path}: {e.strerror or e}") from None
    yield from splitter.flush()


#: Bytes read at a time by read_blocks: large enough for numpy to pay off, small enough
#: that a long log never sits in memory whole.
BLOCK_BYTES = 1 << 22


def read_blocks(path: str, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """The file's lines in blocks of whole lines (each ending in `\\n`, but the file's
    last line may have none), for Session.feed_block."""
    check_regular(path)
    try:
        with open(path, "rb") as f:
            yield from read_stream_blocks(f, path, block_bytes)
    except OSError as e:
        raise LogError(f"{path}: {e.strerror or e}") from None


def read_stream_blocks(stream: BinaryIO, name: str, block_bytes: int = BLOCK_BYTES) -> Iterator[bytes]:
    """An open binary stream (a file, or stdin to its end) in blocks of whole lines, as
    read_blocks; a read error becomes LogError naming `name`."""
    splitter = LineSplitter()
    regular = _regular(stream)
    try:
        while True:
            if regular:  # a sparse file's holes are passed over (next_data)
                pos = stream.tell()
                if (start := next_data(stream.fileno(), pos)) > pos:
                    stream.seek(start)
            try:
                chunk = stream.read(block_bytes)
            except BlockingIOError:
                chunk = None
            if chunk is None:  # a non-blocking stream (stdin left O_NONBLOCK) with no data yet
                select.select([stream], [], [])
                continue
            if not chunk:
                break
            block = splitter.feed_block(chunk)
            if block:
                yield block
    except OSError as e:
        raise LogError(f"{name}: {e.strerror or e}") from None
    if block := splitter.feed_block(b"", final=True):  # what the stream's start or a decoder held
        yield block
    yield from splitter.flush()


def rotated_copy(log_path: str) -> str | None:
    """`run.log.1` when it lies beside `run.log` (logrotate's first rotation, copytruncate's copy):
    where the start of a log that begins mid-run may be; None for stdin or when there is none."""
    if log_path == "-":
        return None
    rotated = log_path + ".1"
    try:
        return unicode_safe(rotated) if os.path.isfile(rotated) else None
    except (OSError, ValueError):  # a name too long, a NUL: no copy
        return None


def dataset_tokens(log_path: str, dataset: str) -> int | None:
    """Tokens in nanoGPT's `data/<dataset>/train.bin` (uint16 token ids) beside the log or in
    the working directory, where the run was started; None when not found."""
    if not dataset or "/" in dataset or dataset.startswith("."):
        return None
    for base in (os.path.dirname(os.path.abspath(log_path)), os.getcwd()):
        path = os.path.join(base, "data", dataset, "train.bin")
        try:
            return os.stat(path).st_size // 2
        except OSError:
            continue
    return None


#: The soft limit asked for where the hard limit on open files is unlimited (macOS allows no
#: more than its OPEN_MAX for the soft one).
OPEN_FILES_WANTED = 65_536


#: Descriptors a followed log may hold for long: its file, and the pidfd of the process writing it.
FDS_PER_LOG = 2
#: Descriptors the process holds besides its logs': the standard streams and the terminal's, the
#: inotify instances (the first few logs' own, the shared one), the wake-up pipes of the threads.
FDS_RESERVE = 16


def check_open_files(logs: int, limit: int | None) -> None:
    """Refuse at start, as the open that would fail (EMFILE), to follow more logs than `limit`
    (the soft limit on open files, raise_open_file_limit) leaves descriptors for: a follower
    that cannot open its log says so on its own thread, and the others would go on without it."""
    if limit is not None and logs * FDS_PER_LOG + FDS_RESERVE > limit:
        raise OSError(errno.EMFILE, os.strerror(errno.EMFILE))


def open_file_limit() -> int | None:
    """The soft limit on open files now; None where the system has none."""
    try:
        import resource
    except ImportError:
        return None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return None if soft == resource.RLIM_INFINITY else soft


def raise_open_file_limit() -> int | None:
    """Raise this process's soft limit on open files (RLIMIT_NOFILE, `ulimit -n`) to its hard limit,
    as servers do: each log followed holds a few descriptors (the file, the writers' pidfds, the
    first few logs an inotify instance each), so a hundred logs outgrow a soft limit of 256.
    Returns the soft limit now; None where the system has none (Windows) or would not raise it."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = OPEN_FILES_WANTED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (ValueError, OSError):
            return soft
        return want
    return soft
