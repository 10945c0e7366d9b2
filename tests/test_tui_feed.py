"""How lines reach the TUI: small reads never wait for the app (no line's arrival time is
late), the big reads of a cold start are bounded, and lines arriving between two redraws cost
one message, not one each, while the session sees exactly what a direct feed gives it."""

from __future__ import annotations

import asyncio
import threading

from conftest import FakeClock
from tui_fakes import ManualLines, recorded

from monitor.core.report import Options
from monitor.inbox import SMALL_READ_BYTES, BlockRead, Inbox
from monitor.session import Session
from monitor.tui.app import make_app
from monitor.tui.messages import FeedWoke

COMPILED = recorded("compiled")


def _put_all(inbox: Inbox, events: list[BlockRead]) -> threading.Thread:
    thread = threading.Thread(target=lambda: [inbox.put(e) for e in events], daemon=True)
    thread.start()
    return thread


def test_small_reads_never_wait_and_big_reads_do() -> None:
    inbox = Inbox(max_reads=1)
    small = _put_all(inbox, [BlockRead(float(i), b"iter 1: loss 1.0\n") for i in range(500)])
    small.join(timeout=10)
    assert not small.is_alive() and len(inbox.take_all()) == 500

    big = b"x" * (SMALL_READ_BYTES - 1) + b"\n"
    reader = _put_all(inbox, [BlockRead(1.0, big), BlockRead(2.0, big)])
    reader.join(timeout=0.3)
    assert reader.is_alive()  # the second big read waits for a drain
    assert len(inbox.take_all()) == 1
    reader.join(timeout=10)
    assert not reader.is_alive() and len(inbox.take_all()) == 1


def test_lines_between_redraws_cost_one_message_and_keep_their_times(monkeypatch) -> None:
    head, tail = COMPILED[:400], COMPILED[400:440]
    clock = FakeClock(tail[-1][0] + 1.0)

    def fed(session: Session) -> Session:
        for t, line in head:
            session.feed(line, t)
        return session

    async def run() -> tuple[Session, int]:
        ManualLines.instances.clear()
        session = fed(Session(Options(source="train.log"), clock))
        app = make_app(session, ManualLines, handle_signals=False)
        posted = []
        async with app.run_test() as pilot:
            post = app.post_message
            monkeypatch.setattr(app, "post_message", lambda m: (posted.append(m), post(m))[1])
            source = ManualLines.instances[0]
            for k in range(0, len(tail), 10):  # bursts of 10 reads, each stamped with its own time
                for t, line in tail[k:k + 10]:
                    source.hooks.on_block(t, line + b"\n")
                await pilot.pause(0.05)
            await pilot.pause(1.2)
        return session, sum(isinstance(m, FeedWoke) for m in posted)

    through_app, wakes = asyncio.run(run())
    direct = fed(Session(Options(source="train.log"), clock))
    for t, line in tail:
        direct.feed_block(line + b"\n", t)
    assert through_app.snapshot().to_json() == direct.snapshot().to_json()
    # a burst queued before the app takes its wake-up is one message, however slow the machine:
    # at most one a burst (4), not one a line (40)
    assert 1 <= wakes <= 4, wakes
