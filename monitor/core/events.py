"""Typed events that the log parsers produce and RunState folds.

PURE ring: no I/O, no textual/watchdog/pynvml imports.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A line that only a fresh process prints (config dump header, first startup line)."""

    text: str


@dataclass(frozen=True, slots=True)
class ConfigValue:
    """One effective setting printed by the run (config dump or `Overriding: k = v`)."""

    key: str
    value: object


@dataclass(frozen=True, slots=True)
class Launched:
    """The command that ran the trainer, as a shell prompt (`$ torchrun … train.py`) or `time`'s
    report (`python train.py --n_layer=4  142911.57s user …`) shows it: the settings its command
    line gives (`--max_iters=5000`), and whether it names a config file, whose settings the log
    may not show. Where it stands in the log does not start a run."""

    settings: tuple[tuple[str, object], ...]
    config_file: bool


@dataclass(frozen=True, slots=True)
class TokensPerIter:
    tokens: int


@dataclass(frozen=True, slots=True)
class VocabSize:
    size: int


@dataclass(frozen=True, slots=True)
class ModelInit:
    """How the model was initialised: `scratch`, `resume` or `pretrained`."""

    kind: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Params:
    count: int


@dataclass(frozen=True, slots=True)
class Compiling:
    pass


@dataclass(frozen=True, slots=True)
class Iteration:
    """One training-step line.

    `iter` is the step number as the log prints it. `step_time_s` is the time the
    log attributes to that single step (None when the family prints none);
    `train_time_s` is a cumulative training clock for families that print one.
    `mfu` is a fraction (0.3 for 30%), None when unknown.
    """

    iter: int
    loss: float | None
    step_time_s: float | None = None
    mfu: float | None = None
    max_iters: int | None = None
    train_time_s: float | None = None
    #: the total computed from the share of the run done that the line prints (nanochat's
    #: `(15.00%)` where no `/total` is printed); None when it does not pin it down
    share_total: int | None = None


@dataclass(frozen=True, slots=True)
class Eval:
    """An evaluation result at `iter` (val loss, and train loss where printed).

    `score` holds a higher-is-better benchmark value (CORE, HellaSwag accuracy) named by
    `metric`; such evals have no `val_loss`.
    """

    iter: int
    val_loss: float | None
    train_loss: float | None = None
    metric: str = "val loss"
    score: float | None = None


@dataclass(frozen=True, slots=True)
class ScheduleChanges:
    """Steps at which the training schedule changes the step time (modded-nanogpt prints
    them before training: sequence length and batch grow by stage)."""

    steps: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A checkpoint written: where to (`path`) or, where the log names no file, at which step."""

    path: str | None
    step: int | None = None


@dataclass(frozen=True, slots=True)
class TrainingEnded:
    """A line a trainer prints once its training loop is over (nanochat's `Total training
    time: …` summary): the run finished, whatever its step count says. `total_steps`: the
    number of steps the line says the run took (autoresearch's `num_steps: 87`), if it does.
    `goes_on`: the process goes on after its loop (modded-nanogpt's forks serialize and
    evaluate after their wallclock stop): an error it prints then is still this run's."""

    text: str
    total_steps: int | None = None
    goes_on: bool = False
    #: the rank that printed it, where a prefix tags it: another rank than the one whose steps
    #: are followed finishing first is no end of the run
    rank: int | None = None


@dataclass(frozen=True, slots=True)
class SamplerOutput:
    """A line only a sampling script prints (nanoGPT's sample.py: `Loading meta from …`, the
    `---------------` between its samples): the process that printed it writes text, it does
    not train."""

    text: str


@dataclass(frozen=True, slots=True)
class PyWarning:
    """A Python warning line (`file:line: FooWarning: message`)."""

    category: str
    message: str


@dataclass(frozen=True, slots=True)
class TracebackStarted:
    pass


@dataclass(frozen=True, slots=True)
class Crash:
    """The final line of a traceback or a fatal error. `interrupted` for KeyboardInterrupt;
    `rank` is the torchrun rank whose output it was, where the line says."""

    message: str
    interrupted: bool = False
    rank: int | None = None


Event = (
    RunStarted
    | ConfigValue
    | Launched
    | TokensPerIter
    | VocabSize
    | ModelInit
    | Params
    | Compiling
    | Iteration
    | Eval
    | Checkpoint
    | ScheduleChanges
    | TrainingEnded
    | SamplerOutput
    | PyWarning
    | TracebackStarted
    | Crash
)
