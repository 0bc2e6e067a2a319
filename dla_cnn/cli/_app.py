"""The Typer ``app``, its consoles and the helpers the command modules share.

The command modules register their commands on ``app``; ``dla_cnn.cli`` imports them in the
order ``dla-cnn --help`` lists the commands.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Optional

import typer
from rich.console import Console

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # keep TensorFlow's start-up chatter off the terminal

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Find and measure damped Lyman-alpha absorbers in quasar spectra with a CNN.",
)
console = Console(stderr=True)
out = Console()


def _print_version(value: bool) -> None:
    """Eager ``--version``: print and exit before any command is required."""
    if value:
        from dla_cnn import __version__

        out.print(f"dla-cnn {__version__}", highlight=False)
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit.", is_eager=True,
                                 callback=_print_version),
) -> None:
    """Find and measure damped Lyman-alpha absorbers in quasar spectra with a CNN."""


def _command_line() -> str:
    return "dla-cnn " + " ".join(shlex.quote(a) for a in sys.argv[1:])


def _fail(err: Exception, code: int = 1) -> None:
    console.print(f"[red]error:[/red] {err}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _for_inference() -> None:
    """Run the models in the fastest installed Keras backend unless the user chose one."""
    from dla_cnn.backend import choose_inference_backend

    choose_inference_backend()


def _progress():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
        console=console, transient=False, disable=not console.is_terminal and os.environ.get("DLA_CNN_PROGRESS") != "1",
    )


def _rate_step(prog, task, t0: float):
    """A progress callback ``(done, total=None)`` that also shows sightlines per second since ``t0``."""
    import time

    def step(done: int, total: int | None = None) -> None:
        rate = done / max(time.perf_counter() - t0, 1e-9)
        extra = {} if total is None else {"total": total}
        prog.update(task, completed=done, rate=f"{rate:.0f} sightlines/s", **extra)

    return step


@contextmanager
def _rate_progress(description: str, total: int | None = None, t0: float | None = None) -> Iterator:
    """A progress bar for long work; yields the ``(done, total=None)`` callback that also shows the
    sightlines per second since ``t0`` (default: now)."""
    import time

    t0 = time.perf_counter() if t0 is None else t0
    with _progress() as prog:
        yield _rate_step(prog, prog.add_task(description, total=total, rate=""), t0)


def _detect_config(min_confidence: Optional[float], single_stage: bool):
    from dla_cnn.exceptions import ConfigError
    from dla_cnn.scan.detect import DetectConfig

    if min_confidence is not None and not 0.0 <= min_confidence <= 1.0:
        raise ConfigError(f"--min-confidence must be within 0..1 (got {min_confidence})")
    return DetectConfig(min_confidence=min_confidence, two_stage=not single_stage)


def main() -> None:  # pragma: no cover - console entry point
    app()
