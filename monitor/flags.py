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


def _number(text: str) -> float:
    """`text` as a float, or the one-line error every number flag gives."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number: {clean(text, 40)!r}") from None


def period_s(text: str) -> float:
    """Seconds between two things, above 0 (--interval, --gpu-interval)."""
    value = _number(text)
    if not 0 < value < math.inf:
        raise argparse.ArgumentTypeError(f"must be above 0 seconds: {text}")
    return value


#: Largest GPU index a machine has (monitor.sources.smicsv.MAX_GPU_INDEX; a test keeps them equal).
MAX_GPU_INDEX = 1023
#: A price per kWh above this is no price but a typo (the dearest retail electricity is a few
#: USD per kWh; a currency with many digits to the dollar still stays well below it).
MAX_PRICE = 1e9


def gpu_indices(text: str) -> tuple[int, ...]:
    """GPU indices as nvidia-smi numbers them, e.g. `0,1` (--gpus): at least one, each 0..1023."""
    try:
        indices = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        indices = ()
    if not indices or not all(0 <= i <= MAX_GPU_INDEX for i in indices):
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1: {clean(text, 40)!r}")
    return indices


def price(text: str) -> float:
    """A price per kWh, 0 or more and below MAX_PRICE (--price)."""
    value = _number(text)
    if not 0 <= value < MAX_PRICE:
        raise argparse.ArgumentTypeError(f"expected a price per kWh from 0 to {MAX_PRICE:g}: {clean(text, 40)}")
    return value


def address(text: str) -> str:
    """An address to listen on (--metrics-addr): an empty one would listen on every interface."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected an address such as 127.0.0.1, or 0.0.0.0 for every interface")
    return text.strip()


def pue(text: str) -> float:
    """A data centre's power usage effectiveness: facility energy / IT energy, so >= 1
    (The Green Grid, "PUE: a comprehensive examination of the metric", 2012)."""
    value = _number(text)
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
        check_regular(text, stdin_hint=False)
    except LogError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
