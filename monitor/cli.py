"""Command line: parse arguments, build a session, pick the front end.

Startup errors go to stderr as one line and exit 2; Ctrl-C exits 130. The grammar is in
arguments.py, the threadless text front ends (--once, replay --jsonl/--once) in offline.py.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import errno
import importlib
import inspect
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence

from monitor.arguments import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FORMAT_CHOICES,
    UsageError,
    build_parsers,
    check_cluster_options,
    check_streams,
    parse_main,
)
from monitor.core.sanitise import clean_name
from monitor.offline import demo_records, new_session, once, options_from, replay
from monitor.sources.logfile import (
    LogError,
    check_followable,
    check_open_files,
    check_regular,
    open_file_limit,
    raise_open_file_limit,
)

# The run's machinery (numpy, the parsers, NVML) is imported by the command that needs it, so
# that `--help` and argument errors start as fast as Python does.
__all__ = ["EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "FORMAT_CHOICES", "UsageError", "build_parsers", "main",
           "new_session", "once", "options_from", "replay"]


def say(message: str) -> None:
    """One line on stderr; outside text in it passes the one sanitiser."""
    if sys.stderr is not None:  # None when started with stderr closed
        with contextlib.suppress(OSError, ValueError):
            print(f"nanowatch: {clean_name(message)}", file=sys.stderr, flush=True)


#: What the text front ends print beyond ASCII, said in ASCII for a terminal whose encoding
#: lacks it (LANG=C with PYTHONUTF8=0, a Latin-1 locale, PYTHONIOENCODING=ascii).
_ASCII = {"·": "-", "→": "->", "≈": "~", "…": "...", "–": "-", "—": "-", "×": "x", "≤": "<=", "≥": ">=",
          "±": "+-", "€": "EUR", "£": "GBP", "¥": "JPY", "✓": "ok", "✗": "x", "▸": ">", "░": ".", "█": "#"}
_SAID_IN_ASCII = "nanowatch-ascii"


def _say_in_ascii(error: UnicodeError) -> tuple[str, int]:
    """A codec error handler: a known symbol in its ASCII words, anything else written out (\u2192)."""
    if not isinstance(error, UnicodeEncodeError):
        raise error
    text = error.object[error.start:error.end]
    return "".join(_ASCII.get(c) or c.encode("ascii", "backslashreplace").decode() for c in text), error.end


def _plain_output() -> None:
    """stdout never fails on a character its encoding lacks: it is said in ASCII. (stderr
    writes such a character out, `\u2192`, as Python's stderr does: there it is most often in
    a file name, which must read as what it is.)"""
    stream = sys.stdout
    if stream is None or not hasattr(stream, "reconfigure"):
        return
    with contextlib.suppress(LookupError, OSError, ValueError):
        if codecs.lookup(stream.encoding or "ascii").name != "utf-8":
            codecs.register_error(_SAID_IN_ASCII, _say_in_ascii)
            stream.reconfigure(errors=_SAID_IN_ASCII)


def _silence_stdout() -> None:
    """stdout failed (a full disk, a closed pipe): send what is left to /dev/null, so the
    interpreter's last flush cannot print a traceback."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


@contextlib.contextmanager
def serving_metrics(args: argparse.Namespace) -> Iterator[None]:
    """With --metrics-port: a MetricsServer for the run(s) while the front end runs."""
    if getattr(args, "metrics_port", None) is None:
        yield
        return
    from monitor.sources.metrics import MetricsError, MetricsServer, SnapshotBoard

    args.metrics_board = SnapshotBoard()
    try:
        server = MetricsServer(args.metrics_board, args.metrics_port, args.metrics_addr).start()
    except MetricsError as e:
        raise UsageError(str(e)) from None
    try:
        yield
    finally:
        server.close()


def _text_front_end(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from monitor.alerting import finish_alerts

    try:
        return run(args)
    finally:
        finish_alerts(args)


#: TERM values of terminals that cannot move the cursor (Emacs' M-x shell and eshell, some IDE
#: run windows): the TUI would be a stream of escape sequences there.
NO_CURSOR_TERMS = frozenset({"dumb"})
#: The colour systems Textual takes from TEXTUAL_COLOR_SYSTEM (those of rich.console.Console);
#: another value fails deep inside Textual with a KeyError.
COLOR_SYSTEMS = ("auto", "standard", "256", "truecolor", "windows")


def check_unicode_terminal() -> None:
    """The TUI draws with Unicode (box lines, braille charts) on stderr, where Textual writes:
    an encoding without it (a Latin-1 locale, PYTHONUTF8=0 under LANG=C) would show escapes;
    and it moves the cursor, which a TERM=dumb terminal cannot. A TEXTUAL_COLOR_SYSTEM that
    Textual does not know is said here rather than as its KeyError."""
    colours = os.environ.get("TEXTUAL_COLOR_SYSTEM")
    if colours is not None and colours not in COLOR_SYSTEMS:
        raise UsageError(f"TEXTUAL_COLOR_SYSTEM={clean_name(colours, 40)}: not a colour system Textual knows "
                         f"({', '.join(COLOR_SYSTEMS)}); set one or unset it")
    check_driver()
    term = os.environ.get("TERM", "")
    if term in NO_CURSOR_TERMS:
        raise UsageError(f"TERM={term}: this terminal cannot draw the TUI; use --once or --jsonl "
                         "(or set TERM, e.g. TERM=xterm-256color, if it can)")
    stream = sys.__stderr__
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        utf = codecs.lookup(encoding).name.startswith("utf-")
    except LookupError:
        utf = False
    if not utf:
        raise UsageError(f"the terminal's encoding is {encoding}, and the TUI draws with Unicode: "
                         "use a UTF-8 locale (LANG=C.UTF-8), or --once / --jsonl")


def check_driver() -> None:
    """TEXTUAL_DRIVER names the class Textual draws with (`module:Class`): one that is not a
    Textual driver it can load is said here, not as Textual's traceback (exit 1)."""
    wanted = os.environ.get("TEXTUAL_DRIVER")
    if wanted is None:
        return
    from textual.driver import Driver  # only for the TUI, which loads Textual anyway

    module, _, name = wanted.partition(":")
    try:  # what Textual does with it (App._driver_class); the module would be imported then too
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError, TypeError):
        found = None
    if not (inspect.isclass(found) and issubclass(found, Driver)):
        raise UsageError(f"TEXTUAL_DRIVER={clean_name(wanted, 60)}: not a Textual driver class (module:Class) "
                         "that can be loaded; unset it")


def keys_from_terminal() -> None:
    """The TUI reads keys from stdin: closed or not a terminal, the terminal is put there."""
    from monitor.sources.stdin import terminal_on_stdin

    try:
        terminal_on_stdin()
    except OSError as e:
        raise UsageError(f"stdin is not a terminal and there is none to read keys from ({e.strerror or e}); "
                         "use --jsonl or --once") from None


def tui(kind: str, args: argparse.Namespace) -> int:
    """The Textual front end (textual is imported only here): live, replay or demo."""
    check_unicode_terminal()
    from monitor.sources.hangup import exit_on_hangup
    from monitor.tui import launch as app_sources

    # a piped log: launch.live puts the terminal on fd 0; no terminal on stdout: launch says so
    if (kind != "live" or args.log != "-") and sys.stdout.isatty():
        keys_from_terminal()

    exit_on_hangup()  # before loading: a dropped connection ends it whatever it is doing
    try:
        if kind == "demo":
            return app_sources.demo(args, new_session)
        if kind == "replay":
            return app_sources.replay(args, new_session, args.log, args.times, args.speed)
        return app_sources.live(args, new_session)
    except app_sources.NoTerminal as e:
        raise UsageError(str(e)) from None


def many(args: argparse.Namespace) -> int:
    """`nanowatch LOG1 LOG2 …`: --once for each, one --jsonl stream, or the runs table."""
    paths = [args.log, *args.more_logs]
    if "-" in paths:
        raise UsageError("'-' (stdin) cannot be one of several logs")
    seen: dict[str, str] = {}
    for path in paths:  # named, as typed: `./run.log` and `run.log` are one log
        first = seen.get(real := os.path.realpath(path))
        seen[real] = path
        if first is not None:
            raise UsageError(f"a log is given twice: {first}" + ("" if first == path else f" (and as {path})"))
    for path in paths:  # every log is refused or taken before anything is shown or followed
        if args.once:
            check_regular(path)  # --once reads them now: each must be there
        else:
            check_followable(path)  # followed: one that does not exist yet is waited for
    if not args.once:
        check_open_files(len(paths), open_file_limit())

    def for_log(path: str) -> argparse.Namespace:
        return argparse.Namespace(**{**vars(args), "log": path, "more_logs": []})

    if args.once:
        for i, path in enumerate(paths):
            if i and not args.json:
                print(flush=True)
            once(for_log(path))
        return EXIT_OK
    from monitor.live import gpu_feed
    from monitor.multi import Runs, follow_many_jsonl

    def make_runs(wake: Callable[[], None], notice: Callable[[str], None]) -> Runs:
        return Runs(paths, lambda p: new_session(for_log(p), time.time),
                    gpu_for=lambda p: gpu_feed(for_log(p), args.gpu_interval, time.time, live=True,
                                               off="turned off (--no-gpu)"),
                    poll=args.poll, wake=wake, on_notice=notice)

    with serving_metrics(args):
        if args.jsonl:
            woke = threading.Event()
            return follow_many_jsonl(make_runs(woke.set, say), woke, interval_s=args.interval)
        if not sys.stdout.isatty():
            raise UsageError("stdout is not a terminal; use --jsonl or --once for a pipe")
        check_unicode_terminal()
        keys_from_terminal()
        from monitor.sources.hangup import exit_on_hangup
        from monitor.tui.multi_app import make_multi_app

        exit_on_hangup()
        return int(make_multi_app(make_runs, bell=args.bell).run() or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    _plain_output()
    main_parser, replay_parser, demo_parser = build_parsers()
    open_files = raise_open_file_limit()
    try:
        if argv[:1] == ["replay"]:
            args = replay_parser.parse_args(argv[1:])
            if args.log == "-":
                raise UsageError("a replay plays a finished file, not stdin: nanowatch - follows a pipe")
            check_streams(args)
            check_cluster_options(args, live=False)
            with serving_metrics(args):
                return _text_front_end(replay, args) if args.jsonl or args.once else tui("replay", args)
        if argv[:1] == ["demo"]:
            args = demo_parser.parse_args(argv[1:])
            check_streams(args)
            check_cluster_options(args, live=False)
            with serving_metrics(args):
                return _text_front_end(demo_records, args) if args.jsonl or args.once else tui("demo", args)
        args = parse_main(main_parser, argv)
        check_streams(args)
        if args.json and not args.once:
            raise UsageError("--json goes with --once (use --jsonl to stream records)")
        check_cluster_options(args, live=True)
        if args.more_logs:
            return many(args)
        if args.once:
            return once(args)
        with serving_metrics(args):
            if args.jsonl:
                if args.log == "-" and sys.stdin is not None and sys.stdin.isatty():  # as --once and the TUI say
                    raise UsageError("'-' reads the log from a pipe: python train.py | nanowatch - --jsonl")
                from monitor.alerting import finish_alerts
                from monitor.live import follow_jsonl, gpu_feed

                try:
                    return follow_jsonl(new_session(args, time.time), args.log, interval_s=args.interval,
                                        poll=args.poll, gpu=gpu_feed(args, args.gpu_interval, time.time, live=True))
                finally:
                    finish_alerts(args)
            return tui("live", args)
    except UsageError as e:
        say(f"error: {e}")
        return EXIT_USAGE
    except LogError as e:
        say(str(e))
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()  # nothing more can be written: the interpreter's last flush must not try
        return EXIT_OK
    except OSError as e:  # stdout on a full disk, too few file descriptors (ulimit -n), …
        _silence_stdout()
        if e.errno == errno.EMFILE:  # the file named is whichever came last (a module, a log)
            say(f"error: too many open files: the limit (ulimit -n) is {open_files}; each log followed "
                "holds a few: follow fewer logs, or raise the hard limit")
        else:
            say(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}")
        return EXIT_USAGE
    except MemoryError:
        say("error: out of memory (is ulimit -v too low?)")
        return EXIT_USAGE
    except ImportError as e:  # a command's libraries (numpy) cannot load: as __main__.run says at start
        from monitor.__main__ import load_failure

        say(f"error: {load_failure(e)}")
        return EXIT_USAGE
    except RuntimeError as e:
        if "thread" not in str(e):  # "can't start new thread": a memory or process limit
            raise
        say(f"error: {e} (is ulimit -v or ulimit -u too low?)")
        return EXIT_USAGE
