"""One cut of a followed log is one event: the source's "reading it from the start" and the note
that the same run went on are one `resume` event in its place and time, and the events pane does
not repeat it as a warning above the events; a cut read as a new run keeps the source's word."""

from __future__ import annotations

import asyncio

from test_log_cut import CUT, END_T, LINES, TIMES, cut, lines, read

from monitor.inbox import LinesRead
from monitor.tui.app import make_app
from monitor.tui.widgets.events import box_warnings

WENT_ON = "the log was truncated at step 150; the same run went on at step 155 (earlier steps kept)"


def _cut_notes(session) -> list[tuple[str, str]]:
    return [(kind, text) for _, kind, text in session.snapshot(END_T).notes
            if "truncated" in text or "rotated" in text or "replaced" in text]


def test_a_cut_the_run_goes_on_through_is_one_event_in_the_place_of_the_cut() -> None:
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT, len(LINES)))
    snap = s.snapshot(END_T)
    assert _cut_notes(s) == [("resume", WENT_ON)]
    assert WENT_ON in snap.warnings  # the record and --once still say it
    kinds = [kind for _, kind, _ in snap.notes]
    # in the place of the cut: after the evals before it (steps 0, 100), before those after it
    evals = [text for _, kind, text in snap.notes if kind == "eval"]
    at = kinds.index("resume")
    assert [text.split(":")[0] for _, kind, text in list(snap.notes)[:at] if kind == "eval"] == ["step 0", "step 100"]
    assert len(evals) == 4


def test_two_cuts_are_two_events() -> None:
    second = CUT + 10
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT, second), *cut("replaced"), lines(second, len(LINES)))
    assert [kind for kind, _ in _cut_notes(s)] == ["resume", "resume"]
    snap = s.snapshot(END_T)
    assert snap.warnings[0].endswith("(earlier steps kept) (2 times)")  # the record counts them
    assert box_warnings(snap) == ()  # the pane shows them as the two events


def test_a_cut_read_as_a_new_run_keeps_the_sources_word_once() -> None:
    again = [(TIMES[CUT] + 1.0, line) for line in LINES[:CUT]]
    s = read(lines(0, CUT), *cut("truncated"), LinesRead(again))
    assert s.run_count == 2
    notes = [text for run in s.state.runs for n in run.notes for text in [n.text] if "truncated" in text]
    assert notes == ["run.log was truncated; reading it from the start"]


def test_the_events_pane_shows_one_cut_once() -> None:
    s = read(lines(0, CUT), *cut("truncated"), lines(CUT, len(LINES)))

    async def run() -> str:
        app = make_app(s, handle_signals=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            return "\n".join(strip.text for strip in app.screen._compositor.render_strips())

    screen = asyncio.run(run())
    assert screen.count("was truncated") == 1, screen
    assert "resume     " + WENT_ON in screen
