"""Pieces every log family shares: number and literal parsing, Python warnings and tracebacks.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

import ast
import operator
import re

from monitor.core.events import Crash, Event, PyWarning, TracebackStarted, TrainingEnded

#: What a line says about its log's family (a family's sniff() gives one, 0 for a line not its
#: own): a start-up line that more than one family prints (the optimizer's `using fused AdamW:`
#: of nanoGPT's model.py, printed by llama2.c, llm.c's train_gpt2.py and build-nanogpt too); a
#: start-up line only one family prints; a step line, which decides.
SHARED, OWN, STEP = 1, 2, 3

_WARNING = re.compile(r"\S.*?:\d+: (\w*Warning): (.*)$")
_EXCEPTION = re.compile(r"([A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failure))\b:?\s*(.*)$")
#: The line that ends a traceback: the exception's (dotted) name, then `:`, or alone, and then a
#: class name (`KeyboardInterrupt`): a lowercase word alone is the rest of a line a terminal
#: wrapped (`…, in _engine_run_backwa` / `rd`).
_RAISED = re.compile(r"[A-Za-z_][\w.]*:|(?:[A-Za-z_]\w*\.)*[A-Z]\w*\s*$")
# llm.c's checks: `[CUDA ERROR] at file train_gpt2.cu:265:` (message on the next line), cuBLAS,
# cuDNN (`[CUDNN ERROR] at file cudnn_att.cpp:141:`), NCCL, MPI.
_NATIVE = re.compile(r"(\[(?:CUDA|cuBLAS|CUBLAS|cuDNN|CUDNN|NCCL|MPI) ERROR\])(?::| at file \S+:\d+:)?")
_FATAL = re.compile(r"(Killed|Segmentation fault|Aborted|Bus error|Terminated)\b|FATAL: ")
#: torchrun's table under its ChildFailedError, for a rank killed by a signal (no traceback of its own):
#: `  traceback : Signal 9 (SIGKILL) received by PID 56988`
_SIGNALLED = re.compile(r"\s*traceback\s*: (Signal \d+ \(SIG\w+\) received by PID \d+)")
# A batch scheduler ending the job from outside (time limit, preemption, `scancel`, `qdel`,
# `bkill`): SLURM's slurmstepd, PBS/Torque, LSF. The process is killed, so nothing else says so.
_SCHEDULER_KILL = re.compile(
    r"slurmstepd(?:-\S+)?: error: \*\*\* (?:JOB|STEP) \S+ ON \S+ CANCELLED AT \S+.*\*\*\*"
    r"|=>> PBS: job killed: .+"
    r"|TERM_(?:RUNLIMIT|OWNER|PREEMPT|REQUEUE_\w+|CPULIMIT|MEMLIMIT|FORCE_\w+): job killed.*")
# The host's OOM killer, as SLURM reports it for the job's step.
_SCHEDULER_OOM = re.compile(r"slurmstepd(?:-\S+)?: error: Detected \d+ oom[_-]kill events? in ")
# A rank's native failure, which leaves no Python traceback: PyTorch's NCCL watchdog timing out a
# collective (then aborting the process), and C++'s `terminate called after throwing an
# instance of 'c10::Error'` with its message on the next line (`  what():  …`).
_WATCHDOG = re.compile(r"(?:.*?\] )?\[(?:PG \d+ )?Rank (\d+)\] (Watchdog caught collective operation timeout: .*\S)")
_TERMINATE = re.compile(r"terminate called after throwing an instance of '([^']{1,200})'")
_WHAT = re.compile(r"\s*what\(\):\s+(.*\S)")
# The shell's or /usr/bin/time's report after the process ended: BSD/macOS `  3588.66 real
# 90.18 user  32.03 sys`, GNU `0.01user 0.00system 0:00.01elapsed 100%CPU …`, bash's and zsh's
# `time` (`real\t1m2.345s`; `… 0.01s user 0.00s system 90% cpu 0.012 total`), GNU `time -v`'s
# `Exit status: 0`. GNU time says a failure itself: `Command exited with non-zero status 1`,
# `Command terminated by signal 9`.
_TIME_REPORT = re.compile(
    r"\s*\d+(?:\.\d+)? real\s+\d+(?:\.\d+)? user\s+\d+(?:\.\d+)? sys\b"
    r"|\d+(?:\.\d+)?user \d+(?:\.\d+)?system [\d:.]+elapsed \d+%CPU"
    r"|real\s+\d+m\d+(?:\.\d+)?s\s*$"
    r"|.* \d+(?:\.\d+)?s user \d+(?:\.\d+)?s system \d+% cpu [\d:.]+ total\s*$"
    r"|\s+Exit status: 0\s*$")
_TIME_FAILED = re.compile(r"Command exited with non-zero status \d+|Command terminated by signal \d+|\s+Exit status: \d+")
#: Where a scheduler's message may start in the middle of a line: the job was killed while a
#: line was half written, and the scheduler's own line is glued to it.
_GLUED_MARKERS = ("slurmstepd", "=>> PBS: ")
#: A number as training logs print it, `nan` and `inf` with either sign included (group 1).
NUM = r"([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf))"
#: After a whole number: it is not the integer part of a float (`1e309`, `3.5`), which is no count.
NOT_FLOAT = r"(?!\.\d|[eE][-+]?\d)"
#: A step number or count of at most 15 digits (group 1); a longer run of digits is no match,
#: so a thousand-digit number is noise rather than an int() that raises, and neither is a float.
INT = rf"(\d{{1,15}})(?!\d){NOT_FLOAT}"
#: An exception line whose message ends in `:` (an empty message, `ChildFailedError: `, does not).
_CONTINUED = re.compile(r"[A-Za-z_][\w.]*: .*\S.*:\s*$")
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")


def glued_end(line: str) -> int:
    """Where a batch scheduler's message starts inside `line`, when it was glued to the end of
    a half-written line (`step 902/19560 | loss nan|slurmstepd: error: *** JOB … CANCELLED …`);
    -1 when there is none (the usual case) or it starts the line."""
    for marker in _GLUED_MARKERS:
        at = line.find(marker, 1)
        if at > 0 and (_SCHEDULER_KILL.match(line, at) or _SCHEDULER_OOM.match(line, at)):
            return at
    return -1


#: A tqdm bar as a training loop redraws it (`\r`), its postfix holding the loss:
#: `Training:  14%|█▍        | 14035/100000 [20:48:41<125:50:55,  5.27s/it, loss=10.9801, lr=1.00e-07]`
#: (groups: steps done, total, rate, its unit, postfix); a bar without a total or a postfix is none.
_BAR = re.compile(r"[^|\n]{0,80}?\d{1,3}%\|[^|\n]{0,200}\| *(\d{1,15})/(\d{1,15}) \[[\d:]+<[\d:?]+,"
                  r" *([\d.]+)(s/it|it/s), ([^\]\n]{0,400})\]")
_BAR_LOSS = re.compile(rf"(?:^|, )(?:train_)?loss={NUM}")


def bar_step(line: str) -> tuple[int, int, float | None, float | None] | None:
    """(steps done, total, seconds per step, loss) of a tqdm bar whose postfix prints the loss
    (a loop that shows its progress only in the bar); None for any other line. The rate is
    tqdm's smoothed one (`5.27s/it`, `1.30it/s`)."""
    if "loss=" not in line:
        return None
    m = _BAR.match(line)
    if m is None:
        return None
    loss = _BAR_LOSS.search(m.group(5))
    if loss is None:
        return None
    rate = number(m.group(3))
    seconds = None if not rate else rate if m.group(4) == "s/it" else 1.0 / rate
    return int(m.group(1)), int(m.group(2)), seconds, number(loss.group(1))


def number(text: str | None) -> float | None:
    """A float from log text; None when absent or unreadable. `nan`/`inf` are kept; `-0` is 0
    (a sign that means nothing, never shown as `-0.0%`)."""
    if text is None:
        return None
    try:
        return float(text) + 0.0
    except ValueError:
        return None


_BINOPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Pow: operator.pow,
}


def constant(node: ast.AST) -> object:
    """The value of an expression node that is a literal or simple arithmetic on literals
    (`5 * 8`, `-1e-4`, `'text'`, `True`); ValueError for anything else."""
    try:
        return _arith(node)
    except ValueError:
        return ast.literal_eval(node)  # a tuple, list or dict of literals (`betas = (0.9, 0.95)`)
    except (ZeroDivisionError, OverflowError, TypeError, RecursionError) as e:
        raise ValueError(str(e)) from None


def _arith(node: ast.AST) -> object:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        value = _arith(node.operand)
        if isinstance(value, (int, float)):
            return -value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        left, right = _arith(node.left), _arith(node.right)
        if isinstance(left, (int, float)) and isinstance(right, (int, float)):
            if isinstance(node.op, ast.Pow) and abs(right) > 64:
                raise ValueError("exponent too large")
            return _BINOPS[type(node.op)](left, right)
    raise ValueError("not a literal")


def literal(text: str) -> object:
    """The value of a config assignment's right-hand side, as Python would see it.

    Literals and simple arithmetic (`5 * 8`) are evaluated; anything else stays text.
    A trailing `# comment` is dropped.
    """
    text = text.strip()
    if len(text) > 1000:
        return text[:1000]
    for candidate in (text, text.split("#", 1)[0].strip()):
        try:
            return _arith(ast.parse(candidate, mode="eval").body)
        except (SyntaxError, ValueError, ZeroDivisionError, OverflowError, TypeError, RecursionError):
            continue
    return text.split("#", 1)[0].strip()


class PythonErrors:
    """Recognises warnings, tracebacks and fatal errors in the lines a Python process prints."""

    def __init__(self) -> None:
        self._in_traceback = False
        self._native: str | None = None  # a C/CUDA error's head, waiting for its message line
        self._raised: str | None = None  # a traceback's last line ending in `:`, waiting for the rest
        self._thrown: str | None = None  # C++'s `terminate called …` line, waiting for its `what():` line

    @property
    def idle(self) -> bool:
        """True when no traceback or error message is being read: a line then matters only
        for what it says itself."""
        return not self._in_traceback and self._native is None and self._raised is None and self._thrown is None

    def parse(self, line: str) -> Event | None:
        if self._raised is not None:
            return self._raised_rest(line)
        if self._thrown is not None:
            thrown, self._thrown = self._thrown, None
            what = _WHAT.match(line)
            if what is not None:
                return Crash(message=f"{_TERMINATE.match(thrown).group(1)}: {what.group(1)}")  # type: ignore[union-attr]
            self.parse(line)  # what follows (`Aborted`) is its consequence; a traceback starting goes on
            return Crash(message=thrown)
        if self._native is not None:
            if not line.strip():
                return None
            head, self._native = self._native, None
            return Crash(message=f"{head} {line.strip()}")
        if line.startswith("Traceback (most recent call last)"):
            self._in_traceback = True
            return TracebackStarted()
        if self._in_traceback:
            if not line.strip() or line[:1].isspace() or line.startswith(_CHAIN) or not _RAISED.match(line):
                return None  # the stack, or text that is no exception (a wrapped source line, `...`)
            self._in_traceback = False
            if _CONTINUED.match(line):
                # `BackendCompilerFailed: backend='inductor' raised:`: the cause is on the next line
                self._raised = line.strip()
                return None
            return Crash(message=line.strip(), interrupted=line.startswith("KeyboardInterrupt"))
        if line.startswith("KeyboardInterrupt"):
            return Crash(message=line.strip(), interrupted=True)
        m = _WARNING.match(line)
        if m is not None:
            return PyWarning(category=m.group(1), message=m.group(2).strip())
        if _FATAL.match(line) or _EXCEPTION.match(line) and ":" in line and not line[:1].isspace():
            return _fatal(line)
        if line.startswith("  traceback") and (m := _SIGNALLED.match(line)) is not None:
            return Crash(message=m.group(1))
        if "Watchdog caught collective operation timeout" in line:
            m = _WATCHDOG.match(line)
            if m is not None:
                return Crash(message=m.group(2), rank=int(m.group(1)))
        if line.startswith("terminate called after throwing") and _TERMINATE.match(line) is not None:
            self._thrown = line.strip()
            return None
        if line[:1] in "sT=" and _SCHEDULER_KILL.match(line):
            return Crash(message=line.strip(), interrupted=True)  # killed from outside, as by SIGTERM
        if line[:1] == "s" and _SCHEDULER_OOM.match(line):
            return Crash(message=line.strip())
        if "real" in line or "user" in line or "Exit status" in line or line.startswith("Command "):
            return _exit_report(line) or self._native_error(line)
        return self._native_error(line)

    def _raised_rest(self, line: str) -> Event | None:
        """The exception whose message went on past its first line, with that next line."""
        if not line.strip():
            return None
        head, self._raised = self._raised or "", None
        if not any(c.isalnum() for c in line):
            return Crash(message=head)  # a rule (`=====`), not the rest of the message
        if line.startswith("Traceback (most recent call last)"):
            self._in_traceback = True  # another traceback begins: the first error stands alone
            return Crash(message=head)
        return Crash(message=f"{head} {line.strip()}")

    def _native_error(self, line: str) -> Event | None:
        """A compiled trainer's fatal error: a C `assert` (`prog: file.cu:12: int main(…):
        Assertion `x' failed.`), llm.c's `[CUDA ERROR] at file f.cu:265:` with its message on
        the next line."""
        if line.endswith("' failed.") and ": Assertion `" in line:
            return Crash(message=line.strip())
        m = _NATIVE.match(line)
        if m is None:
            return None
        rest = line[m.end() :].strip()
        if rest.endswith(":") or not rest:
            self._native = m.group(1)
            return None
        return Crash(message=f"{m.group(1)} {rest}")


def _exit_report(line: str) -> Event | None:
    """The process's end as `time` reports it: ended (its own output says how it went) or
    failed (GNU time's non-zero exit status or signal)."""
    if _TIME_REPORT.match(line):
        return TrainingEnded(f"process exited ({' '.join(line.split())})")
    if _TIME_FAILED.match(line):
        return Crash(message=line.strip(), interrupted="signal" in line)
    return None


def _fatal(line: str) -> Event | None:
    # A bare "SomeError: message" at column 0 outside a traceback is what torchrun,
    # CUDA and OOM failures print; "Killed" is the shell reporting the OOM killer.
    m = _EXCEPTION.match(line)
    if m is not None and not m.group(1).rpartition(".")[2][:1].isupper():
        return None
    return Crash(message=line.strip(), interrupted=False)
