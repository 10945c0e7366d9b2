"""--notify glue: an AlertHook on each Session (every Snapshot of the newest run goes through it)
and, at the end of --jsonl or a replay, a short wait for the commands still running.

Glue at the top: imports the core, adapters and the Session; never textual.
"""

from __future__ import annotations

import argparse
import sys

from monitor.core.alerts import Alert
from monitor.core.snapshot import Snapshot
from monitor.session import Session


def watch_alerts(session: Session, args: argparse.Namespace) -> None:
    """With --notify: every Snapshot of the newest run goes through an AlertHook; a failed command
    is said on stderr (--jsonl, replay) or in the events pane (TUI)."""
    commands = getattr(args, "notify", None)
    if not commands:
        return
    from monitor.sources.notify import AlertHook, Notifier

    text_only = args.jsonl or args.once

    def report(snap: Snapshot, text: str) -> None:
        if text_only:
            print(f"nanowatch: {text}", file=sys.stderr, flush=True)
        else:
            session.note(snap.t, "warning", text)

    def told(snap: Snapshot, alert: Alert) -> None:
        if not text_only:
            session.note(snap.t, "notify", f"{alert.event}: ran --notify")

    hook = AlertHook(Notifier(commands), on_report=report, on_alert=told)
    session.watch(hook)
    args.alert_hooks = [*getattr(args, "alert_hooks", []), hook]


#: At the end of --jsonl or a replay, --notify commands still running get this long to end
#: (and report) before nanowatch exits; they go on by themselves after that.
NOTIFY_EXIT_GRACE_S = 5.0


def finish_alerts(args: argparse.Namespace) -> None:
    """Before a text front end exits: wait up to NOTIFY_EXIT_GRACE_S for the --notify commands
    still running and say on stderr which failed."""
    for hook in getattr(args, "alert_hooks", []):
        if hook.notifier is None:
            continue
        hook.notifier.wait(NOTIFY_EXIT_GRACE_S)
        for text in hook.notifier.reports():
            print(f"nanowatch: {text}", file=sys.stderr, flush=True)
