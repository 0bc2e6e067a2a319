"""Exception taxonomy.

Two families, kept apart on purpose:

* :class:`RunError` -- the whole run cannot go on (bad configuration, a missing or
  corrupt model or packaged asset).  The CLI stops with a non-zero exit.
* :class:`SightlineError` -- one spectrum is bad (unreadable, invalid, no forest
  coverage).  Batch jobs record it as a ``status=error`` (or ``skipped``) row and go
  on with the other sightlines.  A failed sightline never looks like one without
  absorbers.

Every message is one line that names the file (or sightline) and the problem.
"""

from __future__ import annotations


def describe(err: BaseException, limit: int = 200) -> str:
    """A caught library exception as ``TypeName: message`` on one line of at most ``limit`` characters."""
    return f"{type(err).__name__}: {' '.join(str(err).split())[:limit]}"


DATA_ERRORS: tuple[type[BaseException], ...] = (OSError, EOFError, ValueError, KeyError, IndexError, UnicodeError)
"""What third-party readers raise on a corrupt or unexpected file.  In a batch these become a
per-sightline ``error`` row; anything else (``TypeError``, ``AttributeError``, ...) is a bug in
dla-cnn and stops the run rather than hiding as a bad spectrum."""


class DlaCnnError(Exception):
    """Base class of every error raised on purpose by dla-cnn."""


# --------------------------------------------------------------------------- run-wide
class RunError(DlaCnnError):
    """A failure that stops the whole run."""


class ConfigError(RunError):
    """Invalid configuration or command-line options."""


class AssetError(RunError):
    """A model, model card, training set or packaged asset is missing, corrupt or mismatched."""


# --------------------------------------------------------------------------- per sightline
class SightlineError(DlaCnnError):
    """A failure confined to one spectrum / sightline.

    Parameters
    ----------
    source : str
        The file (and HDU / fiber) or sightline id the problem belongs to.
    problem : str
        One line that says what is wrong.
    """

    status = "error"

    def __init__(self, source: str, problem: str):
        self.source = str(source)
        self.problem = " ".join(str(problem).split())
        super().__init__(f"{self.source}: {self.problem}")


class UnknownFormatError(SightlineError):
    """The file is not in any spectrum format dla-cnn can read."""


class SpectrumReadError(SightlineError):
    """The file exists but cannot be read (truncated, corrupt, missing HDU or column)."""


class InvalidSpectrumError(SightlineError):
    """The spectrum was read but its contents are unusable (NaN flux, all ivar = 0, ...)."""


class MissingRedshiftError(SightlineError):
    """No quasar redshift in the file, from the user or from a quasar catalog."""


class NotSearchableError(SightlineError):
    """A valid spectrum that cannot be searched (no Lyman-alpha forest coverage,
    too few good pixels).  Catalogs record it as ``status=skipped``."""

    status = "skipped"
