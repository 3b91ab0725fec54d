"""Writing the pipeline's CSV outputs so that they are safe to open.

A study's names and texts (a place called ``=HYPERLINK(...)``) reach
``effects.csv``; a spreadsheet would run such a cell as a formula. Every CSV
the pipeline writes therefore goes through :func:`write_csv`, which
neutralises such cells as OWASP recommends for CSV injection: a text cell
whose first character (after any spaces) is ``=``, ``+``, ``-``, ``@``, a tab,
a carriage return or a line feed (or their full-width forms) is prefixed with
a single quote, which spreadsheets read as "this is text". A text cell that
already begins with a single quote gets one more, so that :func:`read_csv`
can undo the prefix exactly. Number columns are written as numbers (``-0.12``
is a number, not a formula). Every cell is quoted where the CSV format needs
it, and the file replaces its predecessor only once complete.

Every file the pipeline writes (tables, workbooks, reports) goes through
:func:`write_atomically`, so a reader never sees one half-written. A date a
file format stores inside the file (a workbook's properties and zip entries)
is :func:`output_timestamp`, never the clock, so two runs on the same inputs
write the same bytes.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from .errors import PipelineError

__all__ = [
    "FORMULA_TRIGGERS",
    "neutralise",
    "neutralise_frame",
    "output_timestamp",
    "read_csv",
    "write_atomically",
    "write_csv",
    "write_text",
]

#: The date written into files when ``SOURCE_DATE_EPOCH`` is not set.
FIXED_TIMESTAMP = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)

#: First characters that make a spreadsheet read a cell as a formula or command.
FORMULA_TRIGGERS = frozenset("=+-@\t\r\n\uff1d\uff0b\uff0d\uff20")
_PREFIX = "'"


def neutralise(text: str) -> str:
    """A text cell as it is safe to write (see the module docstring).

    Parameters
    ----------
    text : str

    Returns
    -------
    str
    """
    if text.startswith(_PREFIX) or text.lstrip(" \u00a0")[:1] in FORMULA_TRIGGERS:
        return _PREFIX + text
    return text


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) are neutralised.

    Parameters
    ----------
    frame : pandas.DataFrame

    Returns
    -------
    pandas.DataFrame
    """
    out = frame.copy()
    for column in out.columns:
        values = out[column]
        if pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values):
            continue
        out[column] = values.map(lambda v: neutralise(v) if isinstance(v, str) else v)
    out.columns = [neutralise(c) if isinstance(c, str) else c for c in out.columns]
    return out


def write_csv(frame: pd.DataFrame, path: str | Path, *, index: bool = False) -> Path:
    """Write ``frame`` as a CSV file that is safe to open in a spreadsheet.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : str or Path
        Replaced only once the new file is complete.
    index : bool, default False

    Returns
    -------
    Path
    """
    safe = neutralise_frame(frame)

    def write(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="") as stream:
            safe.to_csv(stream, index=index, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")

    return write_atomically(path, write)


def output_timestamp() -> dt.datetime:
    """The date written into a file's own metadata, in UTC.

    ``SOURCE_DATE_EPOCH`` (seconds since 1970, the reproducible-builds
    convention) when set, else :data:`FIXED_TIMESTAMP`: never the time of the
    run, so the same inputs give the same bytes.

    Returns
    -------
    datetime.datetime
        Timezone-aware (UTC).

    Raises
    ------
    PipelineError
        When ``SOURCE_DATE_EPOCH`` is not a whole number of seconds.
    """
    text = os.environ.get("SOURCE_DATE_EPOCH", "").strip()
    if not text:
        return FIXED_TIMESTAMP
    try:
        return dt.datetime.fromtimestamp(int(text), tz=dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise PipelineError(
            f"SOURCE_DATE_EPOCH must be whole seconds since 1970-01-01, got {text!r}"
        ) from None


def write_atomically(target: str | Path, write: Callable[[Path], object]) -> Path:
    """Write ``target`` through ``write`` so that a reader never sees it half-written.

    Parameters
    ----------
    target : str or Path
        The file to write; its folder is created if needed.
    write : callable
        Called with a temporary path beside ``target`` with the same suffix (writers
        choose their format by it). The temporary file replaces ``target`` once
        ``write`` returns; if it raises, the temporary file is removed and ``target``
        stays as it was.

    Returns
    -------
    Path
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(
        prefix=f".{target.stem}-", suffix=target.suffix, dir=target.parent
    )
    os.close(handle)
    try:
        write(Path(tmp))
        os.chmod(tmp, 0o644)  # an output is for reading: not the private mode mkstemp gives
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def write_text(text: str, target: str | Path) -> Path:
    """Write a UTF-8 text file with ``\\n`` line ends through :func:`write_atomically`."""
    return write_atomically(
        target, lambda tmp: tmp.write_text(text, encoding="utf-8", newline="\n")
    )


def read_csv(path: str | Path, **options) -> pd.DataFrame:
    """Read a CSV written by :func:`write_csv`, with text cells as they were before writing.

    Parameters
    ----------
    path : str or Path
    **options
        Passed to :func:`pandas.read_csv` (e.g. ``dtype``).

    Returns
    -------
    pandas.DataFrame
    """
    frame = pd.read_csv(path, **options)

    def restore(value: object) -> object:
        if isinstance(value, str) and value.startswith(_PREFIX):
            return value[1:]
        return value

    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(restore)
    frame.columns = [restore(c) for c in frame.columns]
    return frame
