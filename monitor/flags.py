"""Type functions for the command line's values: each refuses an impossible value with a message
that names what was expected (argparse prefixes the flag's name); exit 2 follows.

Glue ring (beside cli.py): no textual.
"""

from __future__ import annotations

import argparse
import decimal
import math
import unicodedata

from monitor.core.sanitise import clean
from monitor.sources.logfile import LogError, check_regular

#: Largest count a flag takes: no run has more steps (monitor.core.run.MAX_STEP, a test keeps
#: them equal; a larger --max-iters made the progress vanish), no data set more tokens.
MAX_COUNT = 10**15


#: The suffixes a count may carry, as training configs and papers write them (`--dataset-tokens 9B`).
COUNT_SUFFIXES = {"k": 10**3, "K": 10**3, "M": 10**6, "B": 10**9, "G": 10**9, "T": 10**12}


def whole_number(text: str) -> int:
    """A count above 0 and at most MAX_COUNT (--max-iters, --dataset-tokens): digits (`5000`,
    `5_000`), a whole number in scientific notation (`5e3`), or with a suffix of COUNT_SUFFIXES
    (`5k`, `9B`, `1.5M`)."""
    stripped = text.strip()
    scale = COUNT_SUFFIXES.get(stripped[-1:], 1)
    digits = stripped[:-1] if scale > 1 else stripped
    try:  # int() for digits (with Python's rule for `_`), Decimal for `5e3` and `1.5`: exact, no float rounding
        value = decimal.Decimal(int(digits) if "_" in digits else digits)
    except (decimal.InvalidOperation, ValueError):
        value = None
    if value is None or not value.is_finite():
        hint = " (no separators: 1000)" if "," in text else ""
        raise argparse.ArgumentTypeError(f"expected a whole number: {_quoted(text)}{hint}")
    if value > MAX_COUNT or (value := value * scale) > MAX_COUNT:  # unscaled first: 1e999999999 * 1000 overflows
        raise argparse.ArgumentTypeError(f"must be at most 10^15: {clean(stripped, 40)}")
    if value <= 0:  # after scaling: 1e-999999999 rounds to 0 there
        raise argparse.ArgumentTypeError(f"must be above 0: {clean(stripped, 40)}")
    if value != value.to_integral_value():
        raise argparse.ArgumentTypeError(f"expected a whole number: {clean(stripped, 40)}")
    return int(value)


def _quoted(text: str, max_chars: int = 40) -> str:
    """What was typed, in quotes, cut short and written out (repr() would double the sanitiser's
    backslashes, and quote a megabyte whole)."""
    return f"'{clean(text, max_chars)}'"


def _number(text: str) -> float:
    """`text` as a float, or the one-line error every number flag gives; `-0` is 0 (a price of
    -0 showed `-0.00 USD`)."""
    try:
        return float(text) + 0.0
    except ValueError:
        pass
    # a decimal comma (0,25) or a thousands separator (1,000): which one cannot be told, so no guess
    hint = " (digits and a decimal point only: 0.25, 1000)" if "," in text else ""
    raise argparse.ArgumentTypeError(f"expected a number: {_quoted(text)}{hint}") from None


#: Shortest period between two records or GPU samples: --interval 1e-9 wrote records as fast as
#: stdout took them. NVML's own power and utilisation readings change far less often than this.
MIN_PERIOD_S = 0.01
#: Longest: a day. Past threading's TIMEOUT_MAX (~292 years) a wait raised OverflowError, a
#: traceback; a record or a GPU sample less often than daily is no following.
MAX_PERIOD_S = 86400.0


def period_s(text: str) -> float:
    """Seconds between two things, from MIN_PERIOD_S to MAX_PERIOD_S (--interval, --gpu-interval)."""
    value = _number(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a number of seconds from {MIN_PERIOD_S:g} to {MAX_PERIOD_S:g}: "
                                         f"{clean(text.strip(), 40)}")
    if value < MIN_PERIOD_S:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_PERIOD_S:g} seconds: {clean(text.strip(), 40)}")
    if value > MAX_PERIOD_S:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_PERIOD_S:g} seconds (a day): {clean(text.strip(), 40)}")
    return value


#: Slowest replay: a hundred times slower than the run went (a slower one would sit for days).
MIN_SPEED = 0.01


def speed(text: str) -> float:
    """A replay's speed (--speed): 0 (as fast as possible, on a virtual clock) or a finite
    factor of at least MIN_SPEED."""
    value = _number(text)
    if not (value == 0 or MIN_SPEED <= value < math.inf):
        raise argparse.ArgumentTypeError(f"expected 0 (as fast as possible) or a speed from {MIN_SPEED:g}: "
                                         f"{clean(text.strip(), 40)}")
    return value


#: Largest GPU index a machine has (monitor.sources.smicsv.MAX_GPU_INDEX; a test keeps them equal).
MAX_GPU_INDEX = 1023
#: A price per kWh above this is no price but a typo (the dearest retail electricity is a few
#: USD per kWh; a currency with many digits to the dollar still stays well below it).
MAX_PRICE = 1e9


def gpu_indices(text: str) -> tuple[int, ...]:
    """GPU indices as nvidia-smi numbers them (--gpus): `0,1`, or a range as SLURM writes one,
    `0-3`; at least one, each 0..MAX_GPU_INDEX, each once, in the order given."""
    indices: list[int] = []
    for part in (x.strip() for x in text.split(",")):
        if not part:
            continue
        first, dash, last = part.partition("-")
        try:
            low, high = (int(first), int(last)) if dash and first else (int(part), int(part))
        except ValueError:
            low, high = -1, -1
        if not 0 <= low <= high <= MAX_GPU_INDEX:  # not a number, negative, past the last, or going back (3-0)
            raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1 or 0-3: {_quoted(text)}")
        indices += [i for i in range(low, high + 1) if i not in indices]
    if not indices:
        raise argparse.ArgumentTypeError(f"expected GPU indices like 0,1 or 0-3: {_quoted(text)}")
    return tuple(indices)


def price(text: str) -> float:
    """A price per kWh, 0 or more and below MAX_PRICE (--price)."""
    value = _number(text)
    if not 0 <= value < MAX_PRICE:
        raise argparse.ArgumentTypeError(f"expected a price per kWh from 0 to {MAX_PRICE:g}: {clean(text.strip(), 40)}")
    return value


def address(text: str) -> str:
    """An address to listen on (--metrics-addr): an empty one would listen on every interface.
    An IPv6 address may come in a URL's brackets (`[::1]`), which name no host: they go."""
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1].strip()
    if not value:
        raise argparse.ArgumentTypeError("expected an address such as 127.0.0.1, or 0.0.0.0 for every interface")
    return value


#: A PUE above this is a typo: the least efficient data centres surveyed stay below 3 (Uptime
#: Institute, Global Data Center Survey 2023: 1.58 on average).
MAX_PUE = 10.0


def pue(text: str) -> float:
    """A data centre's power usage effectiveness: facility energy / IT energy, so >= 1
    (The Green Grid, "PUE: a comprehensive examination of the metric", 2012), at most MAX_PUE."""
    value = _number(text)
    if not 1 <= value <= MAX_PUE:
        raise argparse.ArgumentTypeError(f"a PUE is from 1 to {MAX_PUE:g} (facility energy / IT energy): "
                                         f"{clean(text.strip(), 40)}")
    return value


#: Terminal cells a currency may take: the cost lines of the TUI's half-width pane hold it twice.
CURRENCY_CELLS = 8


def currency(text: str) -> str:
    """A short printable currency name or symbol (USD, EUR, €): at most CURRENCY_CELLS terminal
    cells (a wide character takes two), no blank inside, no unit (the price is per kWh already)."""
    name = text.strip()
    if "/" in name:
        raise argparse.ArgumentTypeError(f"the money alone, the price is per kWh already "
                                         f"(--currency {clean(name.split('/')[0].strip(), 8) or 'USD'}): "
                                         f"{_quoted(text, 20)}")
    if (not name or _cells(name) > CURRENCY_CELLS or clean(name) != name or not name.isprintable()
            or any(c.isspace() for c in name)):
        raise argparse.ArgumentTypeError(f"expected a currency like USD or €: {_quoted(text, 20)}")
    return name


def _cells(text: str) -> int:
    """Terminal cells `text` takes (Unicode's East Asian Width: wide and fullwidth take two,
    combining marks none)."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def readable_file(text: str) -> str:
    """A file that exists and can be read now (--gpu-log)."""
    try:
        check_regular(text, stdin_hint=False)
    except LogError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    return text
