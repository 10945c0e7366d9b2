"""Strip what a tool put before a log line (a timestamp, torchrun's rank tag, a Python logging
prefix) so the family parsers see the line as the trainer printed it; keep the printed time.

One normalisation for every family, run before them on each line (Session.feed) and on a
block of lines at once (strip_block, for the bulk path). PURE ring: no I/O, no textual.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass

_LEVEL = r"(?:DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)"
_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
# What may follow a printed time: a separator (` - `, ` | `, `: `) and spaces, or straight
# away the next bracketed field (`[2024-04-02 01:59:46][INFO][trainer:837] - `, ezpz's logger).
_AFTER_TIME = r"(?:\s*[|:-](?=\s))?(?:\s+|(?=\[))"
# One prefix at the start of a line; a line may carry several (`[rank0]: 2024-… INFO - …`).
_PREFIX = re.compile(
    # an ISO-8601 date and time, bracketed or not (`ts "%Y-%m-%d %H:%M:%S"`, `date -Is`, loggers)
    r"\[?(?P<date>\d{4}-\d\d-\d\d)[ T](?P<time>\d\d:\d\d:\d\d)(?:[.,](?P<frac>\d{1,9}))?"
    rf"(?P<zone>Z|[+-]\d\d:?\d\d)?\]?{_AFTER_TIME}"
    # a month-first date, as Python logging's `%m/%d/%Y %H:%M:%S` (transformers' and accelerate's
    # examples: `05/28/2026 01:56:31 - INFO - __main__ - `) and rich's `[%x %X]` print it
    rf"|\[?(?P<udate>\d\d/\d\d/\d\d(?:\d\d)?) (?P<utime>\d\d:\d\d:\d\d)(?:[.,](?P<ufrac>\d{{1,9}}))?\]?{_AFTER_TIME}"
    # Unix time with a fraction, as `time.time()` prints it (`1776142684.924 `): 2001 to 2033
    r"|(?P<epoch>1\d{9})\.(?P<efrac>\d{1,9}) "
    # the `ts` tool's default `May 02 14:10:07`: no year
    r"|(?P<month>[A-Z][a-z]{2}) (?P<day>[ \d]\d) (?P<mtime>\d\d:\d\d:\d\d)(?:\.(?P<mfrac>\d{1,9}))? "
    # C's asctime, as Open MPI's --timestamp-output prints it: `Thu Mar 11 01:53:18 2021`
    r"|[A-Z][a-z]{2} (?P<cmonth>[A-Z][a-z]{2}) (?P<cday>[ \d]\d) (?P<ctime>\d\d:\d\d:\d\d) (?P<cyear>\d{4}) ?"
    # a time of day alone, bare or bracketed (`ts '%H:%M:%S'`, logging's datefmt): no date, not used
    r"|\[?\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\]? +"
    # glog, as torchrun and PyTorch's C++ warnings print it: `W1023 19:25:18.123000 1234
    # torch/distributed/run.py:766] ` (no year: its time is not used)
    r"|\[?[IWEF]\d{4} \d\d:\d\d:\d\d\.\d{1,9}(?: +\d+)? (?P<src>[^\]\s]{1,200}):\d+\] ?"
    # torchrun: `[rank0]: ` (stderr of a failed rank), `[default0]:` (--tee, --redirects)
    r"|\[(?:rank|default)?(?P<rank>\d{1,6})\]: ?"
    # a trainer's own rank tag, with a space: `[RANK 0] ` (Intel's nanoGPT module), `[Rank 1] `
    r"|\[(?:RANK|[Rr]ank) (?P<ranktag>\d{1,6})\]:? ?"
    # mpirun --tag-output (how llm.c runs on several GPUs): `[1,0]<stdout>:` (job, rank); Horovod's `[0]<stderr>:`
    r"|\[(?:\d{1,6},)?(?P<mpirank>\d{1,6})\]<std(?:out|err)>: ?"
    # srun --label (SLURM): ` 0: `, `12: ` (the task id, padded to the widest)
    r"| *(?P<task>\d{1,5}): "
    # docker compose's service column (`docker compose up`, `logs`): `train-1  | `, compose v1's
    # `project_train_1  | ` (the replica number keeps a family's own `300 | loss` apart); a
    # project or service name may begin with a digit (`0trainer-1 | `)
    r"|[A-Za-z0-9][\w.-]{0,62}[-_]\d{1,4} +\| ?"
    # kubectl logs --prefix: `[pod/trainer-0/main] `
    r"|\[pod/[^\s/\]]{1,253}/[^\s\]]{1,63}\] "
    # a wrapper's channel tag with a guillemet, after its time (`[04:43:57] progress » `: an
    # orchestrator relaying the trainer's lines)
    r"|[A-Za-z][\w.-]{0,39} » "
    # Python logging: `INFO:root:`, `INFO:__main__:` (basicConfig), `[INFO] `, `INFO - `,
    # `name - INFO - `, `INFO - name - ` (transformers' examples), loguru's
    # `| INFO     | module:function:12 - `
    rf"|{_LEVEL}:(?P<logger>[\w.<>-]*):"
    rf"|\[{_LEVEL}\](?::| -)? ?"
    rf"|{_LEVEL} - [\w.<>-]{{1,100}} - "
    rf"|(?:[\w.]+ - )?{_LEVEL} +- "
    rf"|(?:\| ?)?{_LEVEL} *\| (?:[\w.<>]+:[\w.<>]+:\d+ - )?"
    # What only follows another prefix: ezpz's one-letter level and `[module:line]` after its
    # time (`[2025-07-24 17:54:48,709407][I][wordplay/trainer:850] `), Hydra's job logging
    # `[%(asctime)s][%(name)s][%(levelname)s] - ` (its `[name]`), rich's padded level
    # (`[01/02/24 10:00:00] INFO     `), the stream and partial-line flag of a container
    # runtime's log file (CRI: `<time> stdout F `)
    rf"|(?P<after>\[[DIWEFC]\] ?|\[[\w./<>-]{{1,100}}:\d{{1,6}}\](?: -)? ?|\[[\w.<>-]{{1,100}}\](?=\[{_LEVEL}\])"
    rf"|(?P<rich>{_LEVEL} {{1,8}}(?=\S))"
    r"|(?P<stream>stdout|stderr) (?P<cri>[FP]) )"
    # a poster's elision glued to the line it cuts: `...tokens per iteration will be: 16,384`
    r"|(?P<elision>\.{3}|…)(?=[A-Za-z\[])"
)
#: Where torchrun's start-up warnings come from (glog's file, Python logging's logger name):
#: the lines it prints before it starts the processes (`Setting OMP_NUM_THREADS …`).
_LAUNCHER = frozenset(("torch/distributed/run.py", "torch.distributed.run"))
#: What a prefix may start with: a cheap test before the pattern is tried (docker compose's
#: service names start with any letter or digit: _SERVICE is tried on those).
_HEADS = frozenset("[0123456789|DIWECFJMASONDTS .…")
_SERVICE = re.compile(r"[A-Za-z0-9][\w.-]{0,62}[-_]\d{1,4} +\| ")
# A tqdm bar the next line was printed after, without its `\r` (a notebook, a captured stream):
# `  4%|▍         | 4/100 [00:04<01:12,  1.32it/s]`, `Step: 501/510 [07:24<1:06:41, 444.57s/it]`;
# tried only on a line that has a bar's rate (`it/s]`, `s/it]`).
_BAR = re.compile(r"[^\[\n|]{0,60}?(?:\d{1,3}%\|[^|\n]{0,200}\| *)?\d+(?:\.\d+)?[kMG]?/\d+(?:\.\d+)?[kMG]?"
                  r" \[[\d:]+<[\d:?]+(?:, *[^\]\n]{0,60})?\] *")
#: Markdown's inline code marks a poster put around numbers (`loss: `2.960526``) or around the
#: whole line (`` `iter 6184: loss 3.2523, time 142.04ms` ``): taken out of a line where one
#: touches a digit, opens the line or closes it (a fence, three of them, is left alone).
_TICKED = re.compile(r"`\d|\d`|^[ \t]*`(?!``)|(?<!``)`[ \t]*$")
MAX_PREFIXES = 6
#: rich's logging handler prints the caller at the right edge of the line, after the padded
#: message: `[01/02/24 10:00:00] INFO     step 1: loss 2.3                 train.py:123`.
_RICH_PATH = re.compile(r" {2,}[\w.-]{1,100}\.py:\d{1,6}\s*$")
#: The longest line a container runtime's partial records are joined into (the rest is dropped).
MAX_JOINED_CHARS = 1 << 20


@dataclass(frozen=True, slots=True)
class Stripped:
    """A line without its prefixes, the time its prefix printed (epoch seconds; a time
    without a zone is read as UTC and a date without a year as 2000: the reader anchors it,
    see PrintedClock) and the rank that printed it (torchrun's tag), None where not given."""

    text: str
    printed_s: float | None = None
    rank: int | None = None
    #: the line is torchrun's own start-up output: a new process (group) starts here
    launch: bool = False
    #: the printed time's resolution (s): 1 for whole seconds, 0.001 for milliseconds
    resolution_s: float | None = None
    #: a container runtime split the line: its next record on `stream` continues it (CRI `P`)
    partial: bool = False
    stream: str | None = None


def strip(line: str) -> Stripped | None:
    """The line without its prefixes, or None when it has none (the usual case, fast).

    Markdown's inline-code marks around numbers (a log pasted into an issue or a README,
    `loss: `2.960526``) are taken out too: the line then comes back even without a prefix.
    """
    ticked = "`" in line and _TICKED.search(line) is not None
    if ticked:
        line = line.replace("`", "")
    at = 0
    if ("it/s]" in line or "s/it]" in line) and (bar := _BAR.match(line)) is not None:
        at = bar.end()
    head = line[at : at + 1]
    if head not in _HEADS and not (head.isalpha() and "| " in line[at : at + 72] and _SERVICE.match(line, at)):
        return Stripped(line[at:]) if ticked or at else None
    m = _PREFIX.match(line, at)
    if m is None or m.group("after") is not None:
        return Stripped(line[at:]) if ticked or at else None
    printed_s: float | None = None
    resolution_s: float | None = None
    rank: int | None = None
    launch = rich = partial = False
    stream: str | None = None
    for _ in range(MAX_PREFIXES):
        if m is None or m.end() == at or at and m.group("elision") is not None:
            break
        tag = m.group("rank") or m.group("ranktag") or m.group("mpirank") or m.group("task")
        if tag is not None:
            rank = int(tag)
        if printed_s is None:
            printed_s = _printed(m)
            if printed_s is not None:
                frac = m.group("frac") or m.group("ufrac") or m.group("mfrac") or m.group("efrac")  # asctime: whole seconds
                resolution_s = 10.0 ** -len(frac) if frac else 1.0
        launch = launch or (m.group("src") or m.group("logger")) in _LAUNCHER
        rich = rich or m.group("rich") is not None
        if m.group("cri") is not None:
            stream, partial = m.group("stream"), m.group("cri") == "P"
        at = m.end()
        m = _PREFIX.match(line, at)
    text = line[at:]
    if rich and (path := _RICH_PATH.search(text)) is not None:  # rich puts the caller at the right edge
        text = text[: path.start()]
    return Stripped(text, printed_s, rank, launch, resolution_s, partial, stream)


class Partials:
    """Joins the pieces of a line a container runtime split into several records: kubelet
    writes a long line (over 16 KiB) as `<time> stdout P <piece>` records ended by one `F`
    record. Pieces are kept per stream until the line ends."""

    def __init__(self) -> None:
        self._held: dict[str, str] = {}

    def join(self, piece: Stripped) -> Stripped | None:
        """The whole line once its last piece came (with that piece's time), None for a piece
        that is not the last; a line without a runtime's flag passes as it is."""
        if piece.stream is None:
            return piece
        held = self._held.pop(piece.stream, "")
        text = (held + piece.text)[:MAX_JOINED_CHARS] if held else piece.text
        if piece.partial:
            self._held[piece.stream] = text
            return None
        return piece if not held else Stripped(text, piece.printed_s, piece.rank, piece.launch, piece.resolution_s,
                                               False, piece.stream)


def _printed(m: re.Match[str]) -> float | None:
    if m.group("epoch") is not None:
        return float(f"{m.group('epoch')}.{m.group('efrac')}")
    if m.group("date") is not None:
        y, mo, d = (int(x) for x in m.group("date").split("-"))
        clock, frac, zone = m.group("time"), m.group("frac"), m.group("zone")
    elif m.group("udate") is not None:
        mo, d, y = (int(x) for x in m.group("udate").split("/"))
        if mo > 12:  # a day-first date (`%d/%m/%Y`): no month is above 12
            mo, d = d, mo
        y += 2000 if y < 100 else 0
        clock, frac, zone = m.group("utime"), m.group("ufrac"), None
    elif m.group("month") is not None and m.group("month") in _MONTHS:
        y, mo, d = 2000, _MONTHS[m.group("month")], int(m.group("day"))
        clock, frac, zone = m.group("mtime"), m.group("mfrac"), None
    elif m.group("cmonth") is not None and m.group("cmonth") in _MONTHS:
        y, mo, d = int(m.group("cyear")), _MONTHS[m.group("cmonth")], int(m.group("cday"))
        clock, frac, zone = m.group("ctime"), None, None
    else:
        return None
    h, mi, s = (int(x) for x in clock.split(":"))
    if not (1 <= mo <= 12 and 1 <= d <= 31 and h < 24 and mi < 60 and s < 61):
        return None
    seconds = calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0)) + (float("0." + frac) if frac else 0.0)
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


#: The margin a quoted log carries before every line: indentation (a notebook exported to
#: Markdown indents cell output by four spaces, a docstring or a README block by its own) and
#: quote markers (`> `, `> > `: Markdown, e-mail).
_MARGIN = re.compile(r"(?:[ \t]*>)*[ \t]*")
#: Indentation wider than this is a line's own layout (nanochat's banner), not a margin.
MAX_MARGIN = 12
#: A comment marker a log was quoted behind (in a script or a source file: `# `, `// `), with
#: the list bullet a writer may put after it (`#    - step 00004/71680 …`): a margin too, but
#: only once a second line carries it (a Markdown heading or a lone comment is no margin).
_COMMENT = re.compile(r"[ \t]*(?:#|//)[ \t]+(?=\S)")
_BULLET = re.compile(r"[-*•][ \t]+(?=\S)")


class Margin:
    """Removes the margin of a quoted log from each of its lines.

    The margin is learnt from the log's first line with text: its quote markers, or its
    indentation (a tab, or 2 to MAX_MARGIN spaces), or a comment marker (`# `, `// `, with a list
    bullet after it taken off each line too; dropped again when the next line with text does not
    carry it); a log that starts at column 0 has none and is left as it is. Lines that do not carry the margin are kept whole (a traceback's own
    indentation goes on after it), and a quoted line with nothing after its markers is empty.
    """

    def __init__(self) -> None:
        self._margin: str | None = None  # None until the first line with text
        self._comment = False  # the margin is a comment marker (bullets go too)
        self._unconfirmed = False  # a comment margin only one line has carried so far

    @property
    def learnt(self) -> bool:
        """True once the first line with text said what the margin is (cut() is then fixed)."""
        return self._margin is not None

    def cut(self, line: str) -> str:
        margin = self._margin
        if margin is None:
            if not line.strip():
                return line
            comment = _COMMENT.match(line)
            if comment is not None and len(comment.group()) <= MAX_MARGIN:
                self._margin, self._comment, self._unconfirmed = comment.group(), True, True
                return self._uncomment(line[comment.end() :])
            found = _MARGIN.match(line).group()  # type: ignore[union-attr]  # matches the empty string
            wide = ">" in found or "\t" in found or len(found) >= 2  # one space is a line's own
            self._margin = margin = found if wide and len(found) <= MAX_MARGIN else ""
        if not margin:
            return line
        if self._unconfirmed and line.strip():
            self._unconfirmed = False
            if not line.startswith(margin):  # one commented line (a heading, a note) made no margin
                self._margin, self._comment = "", False
                return line
        if line.startswith(margin):
            rest = line[len(margin) :]
            return self._uncomment(rest) if self._comment else rest
        return "" if line.strip() == margin.strip() else line

    @staticmethod
    def _uncomment(rest: str) -> str:
        bullet = _BULLET.match(rest)
        return rest[bullet.end() :] if bullet is not None else rest


# The rank tags of torchrun, mpirun --tag-output and srun --label (as in _PREFIX).
_BLOCK_RANK = re.compile(rb"\[(?:rank|default)?\d{1,6}\]: ?|\[(?:\d{1,6},)?\d{1,6}\]<std(?:out|err)>: ?| *\d{1,5}: ")


def strip_block(data: bytes) -> bytes | None:
    """A block of lines whose first line starts with a rank tag and no timestamp, with that
    tag removed from every line it starts (for the bulk reader: a line of another rank keeps
    its tag and is read by the line path); None when the block is not of that kind (a
    timestamped block is read line by line: each line has its own time)."""
    tag = _BLOCK_RANK.match(data)
    if tag is None:
        return None
    end = data.find(b"\n")
    first = strip(data[: end if end >= 0 else len(data)].decode("utf-8", errors="replace"))
    if first is None or first.rank is None or first.printed_s is not None:
        return None
    return data[tag.end() :].replace(b"\n" + tag.group(), b"\n")  # one rank prints the steps: a copy, no regex


class PrintedClock:
    """Puts the times a log prints before its lines onto the reader's clock.

    Printed times are used only when the log's step lines carry them (the first step line
    decides): a log whose logger stamps only its start-up lines is timed by its arrivals.
    The printed clock may be another machine's, in another zone, or years old: its offset
    from the reader's clock is learnt once, from the first line that arrives live
    (arrival time minus printed time) or, for lines already in the file, from the file's
    modification time (the time its last line was written). Until then lines keep the
    printed time, and the shift returned later says by how much to move them.
    """

    def __init__(self) -> None:
        #: None until the first step line says whether the log's lines are timed
        self.in_use: bool | None = None
        self.shift_s: float | None = None
        #: the first time printed, kept for the run's start once the printed times are in use
        self.first_printed_s: float | None = None
        self._last_unanchored_s: float | None = None

    @property
    def undecided(self) -> bool:
        """True while times were printed but no step line has said whether they are used."""
        return self.in_use is None and self.first_printed_s is not None

    def decide(self, printed_s: float | None) -> bool:
        """At the first step line: True when it carries a printed time (then they are used)."""
        self.in_use = printed_s is not None
        return self.in_use

    def time(self, printed_s: float, t: float | None) -> tuple[float | None, float | None]:
        """(the line's time, a shift for times already taken unanchored, else None)."""
        if self.first_printed_s is None:
            self.first_printed_s = printed_s
        if not self.in_use:
            return t, None
        if self.shift_s is not None:
            return printed_s + self.shift_s, None
        if t is None:
            self._last_unanchored_s = printed_s
            return printed_s, None
        return t, self._anchor(t - printed_s)

    def anchor_to_mtime(self, mtime: float | None) -> float | None:
        """Anchor lines read from a file: its last printed time is its mtime. The shift
        for times already taken, or None."""
        if self.shift_s is not None or mtime is None or self._last_unanchored_s is None:
            return None
        return self._anchor(mtime - self._last_unanchored_s)

    def _anchor(self, shift_s: float) -> float | None:
        self.shift_s = shift_s
        return shift_s if self._last_unanchored_s is not None else None
