"""Type functions for the command line's values: each refuses an impossible value with a message
that names what was expected (argparse prefixes the flag's name); exit 2 follows.

Glue ring (beside cli.py): no textual.
"""

from __future__ import annotations

import argparse
import math

from monitor.core.sanitise import clean
from monitor.sources.logfile import LogError, check_regular


def whole_number(text: str) -> int:
    """A count above 0 (--max-iters, --dataset-tokens)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0: {text}")
    return value


def period_s(text: str) -> float:
    """Seconds between two things, above 0 (--interval, --gpu-interval)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number: {text!r}") from None
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 seconds: {text}")
    return value


def pue(text: str) -> float:
    """A data centre's power usage effectiveness: facility energy / IT energy, so >= 1
    (The Green Grid, "PUE: a comprehensive examination of the metric", 2012)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number: {text!r}") from None
    if not 1 <= value < math.inf:
        raise argparse.ArgumentTypeError(f"a PUE is 1 or more (facility energy / IT energy): {text}")
    return value


def currency(text: str) -> str:
    """A short printable currency name or symbol (USD, EUR, €)."""
    name = text.strip()
    if not name or len(name) > 8 or clean(name) != name or not name.isprintable():
        raise argparse.ArgumentTypeError(f"expected a currency like USD or €: {clean(text, 20)!r}")
    return name


def readable_file(text: str) -> str:
    """A file that exists and can be read now (--gpu-log)."""
    try:
        check_regular(text)
    except LogError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
