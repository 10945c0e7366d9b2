"""The top three lines: what is being watched and its status, the progress bar, the finish time.

UI ring: renders a Snapshot; no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import events
from textual.geometry import Size

from monitor.core import textfmt as fmt
from monitor.core.sanitise import clean_name
from monitor.core.snapshot import Snapshot
from monitor.core.textfmt import clock, status_words
from monitor.tui.widgets.common import STATUS_STYLE, PaintedLines, SnapshotView, TextLines, bar, plain
from monitor.tui.widgets.names import shorten

#: A long log name is cut to no fewer cells than this (its ellipsis included) to keep the family in view.
MIN_NAME_CELLS = 12


class RunHeader(TextLines):
    """` training  run 2 of 3  run.log · nanogpt`; a name too long for the width is cut in its
    middle (`/scratch/…/run-42/train.log`), the family after it kept."""

    #: what the last show() was given: a resize shows it again at the new width
    _shown: tuple[Snapshot, bool, int | None] | None = None

    def show(self, snap: Snapshot, *, paused: bool = False, pinned_run: int | None = None) -> None:
        self._shown = (snap, paused, pinned_run)
        width = self.size.width or None
        self.put_from(snap, (paused, pinned_run, width), lambda s: self.line(s, paused, pinned_run, width))

    def on_resize(self, event: events.Resize) -> None:
        if self._shown is not None:
            snap, paused, pinned_run = self._shown
            self.show(snap, paused=paused, pinned_run=pinned_run)

    @staticmethod
    def line(snap: Snapshot, paused: bool, pinned_run: int | None, width: int | None = None) -> Text:
        # The status comes first: on a narrow terminal the path is what gets cut.
        text = Text(f" {status_words(snap)} ", style=STATUS_STYLE.get(snap.status, "bold"))
        if snap.loss_is_nan:  # before anything else: the finish time of a diverged run means little
            text.append(" ")
            text.append(" LOSS IS NaN " if snap.loss != snap.loss else f" LOSS IS {snap.loss} ", style="bold white on red")
        if paused:
            text.append(" ")
            text.append(" PAUSED (p) ", style="bold reverse")
        if snap.run_count > 1:
            text.append(f" run {snap.run_index + 1:,} of {snap.run_count:,}")
            if pinned_run is not None:
                text.append(" (earlier run; f: newest)", style="yellow")
        text.append("  ")
        family = Text()
        family.append(" · ", style="dim")
        family.append(snap.format or "format unknown", style="" if snap.format else "dim")
        name = Text(clean_name("stdin" if snap.source == "-" else snap.source), style="bold")
        if width is not None:  # the name gives way, down to a few cells; the family stays
            room = max(MIN_NAME_CELLS, width - text.cell_len - family.cell_len)
            name = Text(shorten(name.plain, room, middle=True), style="bold")
        text.append_text(name)
        text.append_text(family)
        return text


class _Sized:
    """A line whose layout depends on its width: re-rendered on resize (a mixin for a widget
    with `put`). Subclasses define `compose_line(snap, width) -> Text`."""

    snap: Snapshot | None = None
    compose_line: Callable[[Snapshot, int], Text]
    put_from: Callable[[Snapshot, tuple[object, ...], Callable[[Snapshot], Text]], None]
    size: Size

    def show(self, snap: Snapshot) -> None:
        self.snap = snap
        width = max(20, self.size.width or 80)
        self.put_from(snap, (width,), lambda s: self.compose_line(s, width))

    def on_resize(self, event: events.Resize) -> None:
        if self.snap is not None:
            self.show(self.snap)


class ProgressLine(_Sized, TextLines):
    """`iter 2,340 / 5,000 ████░░░░ 46.8% · tokens 45.9 M / 98.3 M`"""

    def compose_line(self, snap: Snapshot, width: int) -> Text:
        if snap.iter is None:
            return Text(fmt.no_step(snap.evals_done), style="dim")
        total = f"{snap.max_iters:,}" if snap.max_iters is not None else "?"
        if snap.max_iters_source not in (None, "log"):
            total += f" ({snap.max_iters_source})"
        head = Text(f"iter {snap.iter:,} / {total} ")
        tail = Text(f" {fmt.pct(snap.progress)}")
        if fmt.done_short(snap):
            tail = Text(" done (its last step)")  # nanochat's SFT: 649 of 651 is the end
        if snap.tokens_seen is not None:
            tail.append(f" · tokens {fmt.si(snap.tokens_seen)} / {fmt.si(snap.tokens_total)}", style="")
        room = width - len(head) - len(tail)
        if room < 8:  # too narrow for a bar: keep the numbers
            return Text.assemble(head, tail)
        done = "green" if snap.status != "crashed" else "red"
        return Text.assemble(head, bar(snap.progress, room, done), tail)


class FinishLine(_Sized, PaintedLines, SnapshotView):
    """`finishes 14:32 (14:20–14:45), in 2 h 11 m · 32.1 ms/step · eval pause 1.2 s`; its painted
    lines kept (PaintedLines): it lies in the rectangle that every new step repaints."""

    def compose_line(self, snap: Snapshot, width: int) -> Text:
        text = self._when(snap)
        if snap.status in ("crashed", "interrupted") and snap.crash_message:
            # What went wrong matters more than the pace it had: the line ends with it.
            text.append(": ", style="bold red")
            text.append_text(plain(snap.crash_message))
            return text
        extra = []
        if snap.step_time_s is not None:
            extra.append(f"{snap.step_time_s * 1000:.1f} ms/step")
        if snap.eval_time_s is not None:
            extra.append(f"eval pause {_short(snap.eval_time_s)}")
        if snap.elapsed_s is not None:
            ended = snap.status in ("finished", "crashed", "interrupted")
            # added up from the printed step times (a log opened cold), not seen: says so, as --once does
            about = "" if snap.elapsed_measured else "≈ "
            extra.append(f"{'took' if ended else 'running'} {about}{fmt.duration(snap.elapsed_s)}{fmt.since_first(snap)}")
        for part in extra:
            if len(text) + len(part) + 3 > width:
                break
            text.append(" · ", style="dim")
            text.append(part)
        return text

    @staticmethod
    def _when(snap: Snapshot) -> Text:
        if snap.status == "finished":
            if snap.last_line_t is None:  # an earlier run of a log read whole: when is not known
                return Text("finished", style="bold green")
            return Text.assemble(("finished ", "bold green"), clock(snap.last_line_t, snap.t, seconds=False))
        if snap.status in ("crashed", "interrupted"):
            where = "before the first step" if snap.iter is None else f"at iter {fmt.count(snap.iter)}"
            return Text(f"{snap.status} {where}", style="bold red")
        if snap.status == "waiting":
            return Text("finish: the log does not exist yet; it is shown as soon as it appears", style="dim")
        if snap.iter is None:
            return Text("finish: estimated once the first training steps are logged", style="dim")
        # No total, or only a default the log may not have used (it starts mid-run).
        if snap.max_iters is None or (snap.max_iters_source == "default" and snap.eta_finish is None
                                      and snap.step_time_s is not None):
            return Text.assemble(("finish ", "bold"), ("unknown — pass --max-iters", "yellow"))
        if snap.eta_finish is None:
            return Text.assemble(("finish ", "bold"), ("estimating (needs a few steady steps)", "dim"))
        low, high = snap.eta_low, snap.eta_high
        # A band narrower than the clock's minutes is shown with seconds, not as "14:32 (14:32–14:32)".
        seconds = low is not None and high is not None and clock(low, snap.t, seconds=False) == clock(high, snap.t, seconds=False)
        text = Text.assemble(("finishes ", "bold"), (clock(snap.eta_finish, snap.t, seconds), "bold"))
        if low is not None and high is not None:
            text.append(f" ({clock(low, snap.t, seconds)}–{clock(high, snap.t, seconds)})")
        text.append(f", in {fmt.duration(snap.eta_remaining_s)}")
        if snap.status == "stalled":
            text.append(" if it goes on now", style="yellow")
        return text


def _short(seconds: float) -> str:
    return fmt.duration(seconds) if seconds >= 1 else f"{seconds * 1000:.0f} ms"
