"""Command line: parse arguments, build a session, pick the front end.

Startup errors go to stderr as one line and exit 2; Ctrl-C exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import TYPE_CHECKING

from monitor import __version__, flags
from monitor.core.sanitise import clean, unicode_safe
from monitor.sources.logfile import LogError, check_regular, dataset_tokens, read_blocks, read_stream_blocks

if TYPE_CHECKING:
    from monitor.core.report import Options
    from monitor.session import Session

# The run's machinery (numpy, the parsers, NVML) is imported by the command that needs it, so
# that `--help` and argument errors start as fast as Python does.
#: --format's choices: monitor.core.formats.FORMAT_NAMES, spelled out here so that parsing the
#: command line imports no parser (a test keeps the two equal).
FORMAT_CHOICES = ("auto", "nanogpt", "nanochat", "llmc", "modded", "llama2c")

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


class UsageError(Exception):
    pass


def say(message: str) -> None:
    """One line on stderr; outside text in it passes the one sanitiser."""
    if sys.stderr is not None:  # None when started with stderr closed
        with contextlib.suppress(OSError, ValueError):
            print(f"nanowatch: {clean(message)}", file=sys.stderr, flush=True)


def _check_streams(args: argparse.Namespace) -> None:
    """stdout (and stdin for `-`) must be open: Python sets them to None when they are closed."""
    if sys.stdout is None:
        raise UsageError("stdout is closed: nothing could be shown")
    if getattr(args, "log", None) == "-" and sys.stdin is None:
        raise UsageError("stdin is closed: nothing to read from '-'")


def _silence_stdout() -> None:
    """stdout failed (a full disk, a closed pipe): send what is left to /dev/null, so the
    interpreter's last flush cannot print a traceback."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number: {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text}")
    return value


def _common(p: argparse.ArgumentParser) -> None:
    out = p.add_mutually_exclusive_group()
    out.add_argument("--jsonl", action="store_true", help="no TUI: write one JSON record per line to stdout")
    out.add_argument("--once", action="store_true", help="print a summary of the log as it is now and exit")
    p.add_argument("--json", action="store_true", help="with --once: print one JSON record instead")
    p.add_argument("--format", choices=FORMAT_CHOICES, default="auto", help="log family (default: detect)")
    p.add_argument("--max-iters", type=flags.whole_number, metavar="N", help="total iterations, when the log does not say")
    p.add_argument("--price", type=flags.price, default=0.15, metavar="P", help="price per kWh (default 0.15)")
    p.add_argument("--currency", type=flags.currency, default="USD", help="currency of --price (default USD)")
    p.add_argument("--pue", type=flags.pue, default=1.0, metavar="F", help="data-centre PUE (default 1.0)")
    p.add_argument("--dataset-tokens", type=flags.whole_number, metavar="N", help="tokens in the training set, for data epochs")
    p.add_argument("--gpu-log", type=flags.readable_file, metavar="CSV", help="GPU samples from an nvidia-smi --query-gpu CSV file")
    p.add_argument("--no-gpu", action="store_true", help="no GPU telemetry")
    p.add_argument("--gpus", type=flags.gpu_indices, metavar="0,1", help="the GPUs of the run (default: detect)")
    p.add_argument("--gpu-interval", type=flags.period_s, default=1.0, metavar="S", help="NVML sampling period (default 1 s)")
    p.add_argument("--interval", type=flags.period_s, default=1.0, metavar="S",
                   help="with --jsonl: a record at least this often (default 1 s)")
    p.add_argument("--gpu-source", action="append", metavar="URL",
                   help="GPUs from a dcgm-exporter (http://NODE:9400/metrics) or Prometheus (prom+http://HOST:9090); "
                        "once per node; #gpu=0,1&Hostname=NODE picks the run's GPUs")
    p.add_argument("--notify", action="append", metavar="CMD",
                   help="run CMD (through the shell) when the run finishes, crashes, is interrupted or stalls, or "
                        "its loss turns NaN; the event is in NANOWATCH_EVENT, _STATUS, _LOG, _ITER, _ETA, _ERROR, "
                        "_MESSAGE … (repeatable)")
    p.add_argument("--bell", action="store_true", help="ring the terminal bell in the TUI on those events")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="serve Prometheus metrics on PORT (/metrics)")
    p.add_argument("--metrics-addr", type=flags.address, default="127.0.0.1", metavar="ADDR",
                   help="address for --metrics-port (default 127.0.0.1; 0.0.0.0 for every interface)")


def build_parsers() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser, argparse.ArgumentParser]:
    main = _Parser(
        prog="nanowatch",
        description="Watch a training log: progress, finish time, GPUs, energy.",
        epilog="more commands (each takes --help):\n"
               "  nanowatch replay LOG [--times FILE]   play a finished log as if live\n"
               "  nanowatch demo                        replay a bundled real H100 run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    main.add_argument("log", metavar="LOG", help="the training log to follow ('-' for stdin)")
    main.add_argument("more_logs", nargs="*", metavar="LOG2", help="more logs: a table of runs, Enter opens one")
    main.add_argument("--poll", action="store_true", help="poll the file instead of file-system events (NFS)")
    main.add_argument("--version", action="version", version=f"nanowatch {__version__}")
    _common(main)
    replay = _Parser(prog="nanowatch replay", description="Play a finished log as if it were live.")
    replay.add_argument("log", metavar="LOG", help="the finished log to play")
    replay.add_argument("--times", metavar="FILE", help="arrival time of every line (epoch seconds, one per line)")
    replay.add_argument("--speed", type=_positive_float, default=1.0, metavar="X",
                        help="X times faster than real; 0 = as fast as possible on a virtual clock")
    _common(replay)
    demo = _Parser(prog="nanowatch demo",
                   description="Replay a bundled real H100 run (log, line times, GPU trace) on its recorded clock.")
    demo.add_argument("--speed", type=_positive_float, default=None, metavar="X",
                      help="X times faster than real (default: the whole run in about 90 s); 0 = as fast as possible")
    _common(demo)
    return main, replay, demo


def options_from(args: argparse.Namespace, source: str) -> Options:
    from monitor.core.report import Options

    return Options(
        source=source,
        fmt=args.format,
        max_iters=args.max_iters,
        price_per_kwh=args.price,
        currency=args.currency,
        pue=args.pue,
        dataset_tokens=args.dataset_tokens,
    )


def new_session(args: argparse.Namespace, clock: Callable[[], float], source: str | None = None) -> Session:
    """The session for the command line's options (`source` names the log in records)."""
    from monitor.alerting import watch_alerts
    from monitor.session import Session

    lookup = None if args.log == "-" else partial(dataset_tokens, args.log)
    # the demo names itself: a replay of a recording, at what speed
    source = source or getattr(args, "source_name", None)
    board = getattr(args, "metrics_board", None)
    # a name with bytes that are not UTF-8 is valid text in every record and label
    session = Session(options_from(args, unicode_safe(source or args.log)), clock, dataset_lookup=lookup,
                      on_snapshot=None if board is None else board.publish)
    watch_alerts(session, args)
    return session


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


def check_cluster_options(args: argparse.Namespace, live: bool) -> None:
    """--gpu-source and --metrics-port: say what is wrong before anything starts (exit 2)."""
    sources = getattr(args, "gpu_source", None)
    if sources:
        from monitor.sources.dcgm import GpuSourceError, parse_endpoint

        if args.gpu_log or args.no_gpu:
            raise UsageError("--gpu-source goes without --gpu-log and --no-gpu")
        if not live:
            raise UsageError("--gpu-source reads the GPUs now; a replay takes its GPU trace from --gpu-log")
        try:
            for url in sources:
                parse_endpoint(url, args.gpus)
        except GpuSourceError as e:
            raise UsageError(str(e)) from None
    if args.once and getattr(args, "notify", None):
        raise UsageError("--notify watches a run as it goes: use it with the TUI, --jsonl or replay")
    if (args.once or args.jsonl) and getattr(args, "bell", False):
        raise UsageError("--bell rings in the TUI; with --jsonl use --notify")
    port = getattr(args, "metrics_port", None)
    if port is not None:
        if args.once:
            raise UsageError("--metrics-port serves a live view: use it with the TUI, --jsonl or replay")
        if not 0 <= port <= 65535:
            raise UsageError(f"--metrics-port {port}: not a port number")


def once(args: argparse.Namespace, clock: Callable[[], float] = time.time) -> int:
    from monitor.inbox import BlockRead, FileTouched, GpuFailed, GpuSampled, GpuWatched
    from monitor.live import open_gpus
    from monitor.sources.gpulog import CsvSource
    from monitor.sources.problems import GpuProblem, GpuUnavailable

    session = new_session(args, clock)
    if args.log == "-":  # stdin to its end: `cat run.log | nanowatch - --once`
        if sys.stdin.isatty():
            raise UsageError("'-' reads the log from a pipe: cat run.log | nanowatch - --once")
        for block in read_stream_blocks(sys.stdin.buffer, "stdin"):
            session.ingest([BlockRead(None, block)])
    else:
        mtime = check_regular(args.log).st_mtime
        for block in read_blocks(args.log):
            session.ingest([BlockRead(None, block)])
        session.ingest([FileTouched(mtime)])
    problems: list[GpuProblem] = []
    source = open_gpus(args, live=True, on_error=problems.append)
    if source is not None:
        session.ingest([GpuWatched(source.origin, source.status)])
        now = clock()  # one NVML sample, or the whole CSV, streamed (a GPU log may be hundreds of MB)
        samples = source.stream(now) if isinstance(source, CsvSource) else source.poll(now)
        # every --gpu-source endpoint failed: the GPU line says why
        session.ingest([*(GpuFailed(GpuUnavailable(str(p))) for p in problems), GpuSampled(samples)])
        source.close()
    _print_final(session, args)
    return EXIT_OK


def _print_final(session: Session, args: argparse.Namespace, now: float | None = None) -> None:
    from monitor.core.summary import summary

    snap = session.snapshot(now)
    print(snap.to_json() if args.json else summary(snap), flush=True)


def replay(args: argparse.Namespace, clock: Callable[[], float] = time.time,
           sleep: Callable[[float], None] = time.sleep) -> int:
    """`replay --jsonl` / `replay --once`: the lines in order, each on the recording's clock."""
    from monitor.inbox import GpuSampled, GpuWatched, LinesRead, SourceEvent
    from monitor.live import open_gpus
    from monitor.sources.replay import timed_lines

    start = clock()
    items = list(timed_lines(args.log, args.times, start, args.format))
    if not items:
        _print_final(new_session(args, clock), args)
        return EXIT_OK
    t0 = items[0][0]
    virtual_now = t0
    session = new_session(args, lambda: virtual_now)
    # nvidia-smi prints local time, without a zone: a recorded trace is aligned to the times given
    source = open_gpus(args, live=False, span=(t0, items[-1][0]) if args.times else None)
    if source is not None:
        session.ingest([GpuWatched(source.origin, source.status)])
    for t, line in items:
        if args.speed > 0 and not args.once:  # --once shows only the end: no need to wait for it
            delay = start + (t - t0) / args.speed - clock()
            if delay > 0:
                sleep(delay)
        virtual_now = t
        events: list[SourceEvent] = [LinesRead([(t, line)])]
        if source is not None:
            events.insert(0, GpuSampled(source.poll(t)))
        changed = session.ingest(events)
        if args.jsonl and changed:
            print(session.snapshot(t).to_json(), flush=True)
    if args.once or not args.jsonl:
        _print_final(session, args, virtual_now)
    return EXIT_OK


def demo_records(args: argparse.Namespace) -> int:
    """`nanowatch demo --once` / `--jsonl`: the bundled run through the replay's text front ends."""
    from monitor.sources.replay import bundled_demo

    run = bundled_demo(args.speed)
    args.log, args.times, args.speed, args.source_name = run.log, run.times, run.speed, run.name
    if not args.no_gpu and args.gpu_log is None:
        args.gpu_log = run.gpu_log
    return replay(args)


def _text_front_end(run: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    from monitor.alerting import finish_alerts

    try:
        return run(args)
    finally:
        finish_alerts(args)


def tui(kind: str, args: argparse.Namespace) -> int:
    """The Textual front end (textual is imported only here): live, replay or demo."""
    from monitor.sources.hangup import exit_on_hangup
    from monitor.tui import launch as app_sources

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
    if len({os.path.realpath(p) for p in paths}) < len(paths):
        raise UsageError("a log is given twice")

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
        from monitor.sources.hangup import exit_on_hangup
        from monitor.tui.multi_app import make_multi_app

        exit_on_hangup()
        return int(make_multi_app(make_runs, bell=args.bell).run() or 0)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_parser, replay_parser, demo_parser = build_parsers()
    try:
        if argv[:1] == ["replay"]:
            args = replay_parser.parse_args(argv[1:])
            _check_streams(args)
            check_cluster_options(args, live=False)
            with serving_metrics(args):
                return _text_front_end(replay, args) if args.jsonl or args.once else tui("replay", args)
        if argv[:1] == ["demo"]:
            args = demo_parser.parse_args(argv[1:])
            _check_streams(args)
            check_cluster_options(args, live=False)
            with serving_metrics(args):
                return _text_front_end(demo_records, args) if args.jsonl or args.once else tui("demo", args)
        # intermixed: `nanowatch a.log --no-gpu b.log` takes both logs
        args = main_parser.parse_intermixed_args(argv)
        _check_streams(args)
        if args.json and not args.once:
            raise UsageError("--json goes with --once (use --jsonl to stream records)")
        check_cluster_options(args, live=True)
        if args.more_logs:
            return many(args)
        if args.once:
            return once(args)
        with serving_metrics(args):
            if args.jsonl:
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
        return EXIT_OK
    except OSError as e:  # stdout on a full disk, too few file descriptors (ulimit -n), …
        _silence_stdout()
        say(f"error: {f'{e.filename}: ' if e.filename else ''}{e.strerror or e}")
        return EXIT_USAGE
    except MemoryError:
        say("error: out of memory (is ulimit -v too low?)")
        return EXIT_USAGE
    except ImportError as e:  # a command's libraries (numpy) cannot map: as __main__.run says at start
        cause = e.__cause__ or e
        reason = next((line for line in str(cause).splitlines() if line.strip()), type(cause).__name__)
        say(f"error: cannot load ({reason}); is ulimit -v too low?")
        return EXIT_USAGE
    except RuntimeError as e:
        if "thread" not in str(e):  # "can't start new thread": a memory or process limit
            raise
        say(f"error: {e} (is ulimit -v or ulimit -u too low?)")
        return EXIT_USAGE
