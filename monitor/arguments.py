"""The command line's grammar: the parsers of `nanowatch`, `replay` and `demo`, and the checks of
option combinations that argparse cannot express; each refusal is a UsageError (one line, exit 2).

Glue ring (beside cli.py): imports no parser, no NVML, no textual (`--help` starts as fast as Python).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from typing import Any

from monitor import __version__, flags

#: --format's choices: monitor.core.formats.FORMAT_NAMES, spelled out here so that parsing the
#: command line imports no parser (a test keeps the two equal).
FORMAT_CHOICES = ("auto", "nanogpt", "nanochat", "llmc", "modded", "llama2c")

EXIT_OK, EXIT_USAGE, EXIT_INTERRUPTED = 0, 2, 130


class UsageError(Exception):
    """A command line nanowatch refuses: its message is the one line said before exit 2."""


def check_streams(args: argparse.Namespace) -> None:
    """stdout (and stdin for `-`) must be open: Python sets them to None when they are closed."""
    if sys.stdout is None:
        raise UsageError("stdout is closed: nothing could be shown")
    if getattr(args, "log", None) == "-":
        if sys.stdin is None:
            raise UsageError("stdin is closed: nothing to read from '-'")
        _check_stdin_device()


def _check_stdin_device() -> None:
    """A device on stdin other than a terminal or /dev/null (/dev/zero, /dev/urandom, /dev/kmsg)
    is no log: it never ends, so `--once` would wait for ever and following it would spin."""
    try:
        fd = sys.stdin.fileno()
        given, null = os.fstat(fd), os.stat(os.devnull)
    except (OSError, ValueError):  # a stdin with no descriptor: the reader says what is wrong
        return
    if stat.S_ISCHR(given.st_mode) and given.st_rdev != null.st_rdev and not os.isatty(fd):
        raise UsageError("stdin is a device, not a log: give the log's path, or pipe it: cat run.log | nanowatch -")


#: Options of `replay` and `demo` only: given to the live command, the error says where they go.
REPLAY_ONLY = ("--times", "--speed")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(_plain(self.prog, message))

    def _print_message(self, message: str, file: Any = None) -> None:
        """--help and --version: argparse drops a write error (a full disk), and the help
        silently never arrives; here it reaches cli.main, which says it (a closed pipe: quietly)."""
        file = file or sys.stderr
        if message and file is not None:
            file.write(message)
            file.flush()


def _plain(prog: str, message: str) -> str:
    """argparse's message, said for a person: a missing LOG names what to type (argparse would
    also call the optional LOG2 list required), a replay option says it belongs to `replay`."""
    if message.startswith("the following arguments are required: LOG"):
        if prog == "nanowatch":
            return "which log? nanowatch LOG (nanowatch demo replays a bundled run; nanowatch --help)"
        return f"which log? {prog} LOG ({prog} --help)"
    if prog == "nanowatch" and message.startswith("unrecognized arguments:"):
        given = [o for o in REPLAY_ONLY if any(a.split("=")[0] == o for a in message.split()[2:])]
        if given:
            verb = "goes" if len(given) == 1 else "go"
            return f"{message} ({' and '.join(given)} {verb} with nanowatch replay LOG)"
    return message


def _common(p: argparse.ArgumentParser, live: bool = True) -> None:
    """The options every command takes; those that mean nothing to a replay (it writes a record
    per line and reads its GPUs from --gpu-log) are accepted there but left out of its help."""
    def live_help(text: str) -> str:
        return text if live else argparse.SUPPRESS

    out = p.add_mutually_exclusive_group()
    out.add_argument("--jsonl", action="store_true", help="no TUI: write one JSON record per line to stdout")
    out.add_argument("--once", action="store_true", help="print a summary of the log as it is now and exit" if live
                     else "play the whole log at once, print its summary and exit")
    p.add_argument("--json", action="store_true", help="with --once: print one JSON record instead")
    p.add_argument("--format", choices=FORMAT_CHOICES, default="auto", help="log family (default: detect)")
    p.add_argument("--max-iters", type=flags.whole_number, metavar="N",
                   help="total iterations, when the log does not say (5000, 5e3, 5k)")
    p.add_argument("--price", type=flags.price, default=0.15, metavar="P", help="price per kWh (default 0.15)")
    p.add_argument("--currency", type=flags.currency, default="USD", help="currency of --price (default USD)")
    p.add_argument("--pue", type=flags.pue, default=1.0, metavar="F", help="data-centre PUE (default 1.0)")
    p.add_argument("--dataset-tokens", type=flags.whole_number, metavar="N",
                   help="tokens in the training set, for data epochs (9B, 9e9)")
    p.add_argument("--gpu-log", type=flags.readable_file, metavar="CSV", help="GPU samples from an nvidia-smi --query-gpu CSV file")
    p.add_argument("--no-gpu", action="store_true", help="no GPU telemetry")
    p.add_argument("--gpus", type=flags.gpu_indices, metavar="0,1",
                   help="the GPUs of the run: 0,1 or 0-3 (default: detect)")
    p.add_argument("--gpu-interval", type=flags.period_s, default=1.0, metavar="S", help="NVML sampling period (default 1 s)")
    p.add_argument("--interval", type=flags.period_s, default=1.0, metavar="S",
                   help=live_help("with --jsonl: a record at least this often (default 1 s)"))
    p.add_argument("--gpu-source", action="append", metavar="URL",
                   help=live_help("GPUs from a dcgm-exporter (http://NODE:9400/metrics) or Prometheus "
                                  "(prom+http://HOST:9090); once per node; #gpu=0,1&Hostname=NODE picks the run's GPUs"))
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
               "  nanowatch demo                        replay a bundled real H100 run\n\n"
               "examples:\n"
               "  python -u train.py | tee run.log      on the GPU box, then:\n"
               "  nanowatch run.log                     the live screen: q quits, ? shows\n"
               "                                        every key and what each number means\n"
               "  nanowatch run.log --once              a summary of the log as it is now\n"
               "  nanowatch a/run.log b/run.log         several runs in one table\n\n"
               "exit codes: 0 ok, 2 bad usage or unreadable input (one line on stderr),\n"
               "130 Ctrl-C",
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
    replay.add_argument("--speed", type=flags.speed, default=1.0, metavar="X",
                        help="X times faster than real; 0 = as fast as possible on a virtual clock")
    _common(replay, live=False)
    demo = _Parser(prog="nanowatch demo",
                   description="Replay a bundled real H100 run (log, line times, GPU trace) on its recorded clock.")
    demo.add_argument("--speed", type=flags.speed, default=None, metavar="X",
                      help="X times faster than real (default: the whole run in about 90 s); 0 = as fast as possible")
    _common(demo, live=False)
    return main, replay, demo


def parse_main(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The main command's arguments, intermixed (`nanowatch a.log --no-gpu b.log` takes both logs),
    with POSIX's `--`: every word after it is a log, even one starting with `-` (Python 3.11's
    parse_intermixed_args loses them: each stands in for one as a word that cannot be an option,
    NUL-led as no real argument is). A file whose name starts with `-`, given without `--`, is
    read as an option: the error says how to give it."""
    cut = argv.index("--") if "--" in argv else len(argv)
    names = argv[cut + 1:]
    stand_ins = [f"\0{k}" for k in range(len(names))]
    try:
        args = parser.parse_intermixed_args([*argv[:cut], *stand_ins])
    except UsageError:
        dashed = next((a for a in argv[:cut] if a.startswith("-") and a != "-" and os.path.isfile(a)), None)
        if dashed is None:
            raise
        raise UsageError(f"{dashed} reads as an option: give the log as ./{dashed}, or after --: "
                         f"nanowatch -- {dashed}") from None
    back = dict(zip(stand_ins, names))
    args.log = back.get(args.log, args.log)
    args.more_logs = [back.get(name, name) for name in args.more_logs]
    return args


def check_cluster_options(args: argparse.Namespace, live: bool) -> None:
    """The GPU options, --notify, --bell and --metrics-port together: say what is wrong before
    anything starts (exit 2)."""
    if args.gpu_log and args.no_gpu:
        raise UsageError("--gpu-log goes without --no-gpu (which one?)")
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
        if port == 0:  # the system would pick one that no scraper, and no message, could name
            raise UsageError("--metrics-port 0: give the port for Prometheus to scrape, such as 9464")
