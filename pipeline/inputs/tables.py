"""Reading a study's CSV files: one rule for every file.

Users export their tables from spreadsheets, often Swedish Excel, which writes
``;`` as the separator, decimal commas and Windows-1252. Every study CSV
(``series.csv``, ``survey.csv``, ``inspections.csv``, ``actions.csv``) is
therefore read by the same rule:

Encoding
    UTF-8 (with or without a byte-order mark), UTF-16 with a byte-order mark
    (Excel's "Unicode text"), otherwise Windows-1252 (Latin-1 for the few
    bytes Windows-1252 leaves undefined). A file that mixes UTF-8 lines with
    Windows-1252 lines is refused, naming one row of each. A spreadsheet
    workbook (``.xlsx``, ``.xls``) or another binary file is refused with a
    message saying so.
Separator
    ``;``, tab or ``,``: whichever occurs most often in the header line. A
    header with none of them, or with two of them equally often, is an error:
    every study file has several columns, so the header must show the
    separator unambiguously.
Header
    The first line that is not blank. Column names are matched without regard
    to case or surrounding spaces, and inner spaces read as ``_``
    (``"Place ID"`` is ``place_id``). An unknown column close to a column the
    file lacks (``plats_id`` for ``place_id``) is an error naming the close
    match; another unknown column is an error or a stated warning, as the
    reader chooses.
Rows
    Blank lines (also lines of separators only) are skipped but counted, so
    every problem names the line an editor shows (the header of a file without
    leading blank lines is line 1); a quoted field spanning lines is one row,
    named by the line it starts on. A row with fewer fields than the header
    reads its missing trailing cells as blank, as a spreadsheet shows them; a
    row with more fields is an error (empty trailing fields, which
    spreadsheets write, are dropped first). Cells are stripped of surrounding
    spaces.
Numbers
    A decimal point, or a decimal comma in a ``;``- or tab-separated file. A
    ``,``-separated file cannot use decimal commas: a quoted ``"1,500"`` there
    could be one and a half or an English-style fifteen hundred, so in such a
    file a comma in a number is refused, with a hint. Digits may be grouped
    in threes by a space, a no-break space or a narrow no-break space
    (``22 845``, as Swedish Excel writes a number formatted with digit
    grouping), never by ``.`` or ``,`` (``1.234,5`` is refused). The minus
    sign may be U+2212. Exponents (``1e3``) are read; ``inf`` and ``nan`` are
    not numbers.
Dates
    ISO 8601, ``YYYY-MM-DD``.

Problems are :class:`pipeline.errors.Problem` values naming file, row and
column; a reader collects all problems of a file before raising one
:class:`pipeline.errors.ValidationError`. A reader checks a row through
:meth:`Table.rows`, whose :class:`Row` words the common checks (a blank cell, a
date, a choice, a positive number, the municipality and place) the same way in
every file. Only problems that leave nothing to
check row by row (no file, no header, a missing column) are raised at once by
:func:`read_table`.

The one CSV rule is kept whole (over 500 lines) so that every reader decodes,
splits and reports errors the same way.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InputWarning, Problem, ValidationError

__all__ = [
    "LINE",
    "SEPARATORS",
    "Table",
    "canonical",
    "check_municipality_and_place",
    "decode",
    "normalise_column",
    "number_hint",
    "parse_date",
    "parse_int",
    "parse_number",
    "parse_numbers",
    "place_lookup",
    "read_table",
    "sniff_separator",
]

#: The separators a study CSV may use, in the order a tie would be listed.
SEPARATORS = (";", "\t", ",")
#: The column of :attr:`Table.frame` holding each row's line number.
LINE = "_line"

_SEPARATOR_NAMES = {";": "';'", "\t": "tab", ",": "','"}
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PLAIN_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_PLAIN_NUMBER_RE = re.compile(_PLAIN_NUMBER)
_COMMA_NUMBER = r"[+-]?\d+,\d+(?:[eE][+-]?\d+)?"
_COMMA_NUMBER_RE = re.compile(_COMMA_NUMBER)
# Digit groups of three separated by a space, a no-break or a narrow no-break space.
_GROUPED_RE = re.compile(r"[+-]?\d{1,3}(?:[ \u00a0\u202f]\d{3})+(?:[.,]\d+)?")
_SIGNATURES = {
    b"PK\x03\x04": "a spreadsheet workbook (.xlsx) or another zip archive",
    b"\xd0\xcf\x11\xe0": "an old-style Excel workbook (.xls)",
}


# --------------------------------------------------------------------------
# Encoding, separator, header
# --------------------------------------------------------------------------


def decode(raw: bytes) -> tuple[str, str]:
    """Decode a file's bytes by the study rule.

    Parameters
    ----------
    raw : bytes
        The file's content.

    Returns
    -------
    text : str
        The text, without a byte-order mark.
    encoding : str
        ``"utf-16"``, ``"utf-8"``, ``"cp1252"`` or ``"latin-1"``: how it was read.

    Notes
    -----
    UTF-8 is tried before Windows-1252 because Swedish text in Windows-1252
    (``å`` = 0xE5 followed by an ASCII letter) is practically never valid
    UTF-8, while the reverse reading would silently garble UTF-8 files.
    """
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return raw.decode("utf-16"), "utf-16"
    try:
        return raw.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        # Five bytes are undefined in Windows-1252; Latin-1 maps them to control characters.
        return raw.decode("latin-1"), "latin-1"


# A character of two to four bytes as UTF-8 writes it; in Windows-1252 text such
# a pair (e.g. "Ã¤") is practically only ever misread UTF-8.
_UTF8_SEQUENCE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _mixed_encoding(raw: bytes) -> tuple[int, int] | None:
    """(a UTF-8 line, a line that is not UTF-8) of a file mixing the two, or None."""
    utf8_line = other_line = None
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError:
            other_line = other_line or number
            if utf8_line is None and _UTF8_SEQUENCE.search(line):
                utf8_line = number
        else:
            if utf8_line is None and _UTF8_SEQUENCE.search(line):
                utf8_line = number
        if utf8_line and other_line:
            return utf8_line, other_line
    return None


def _binary_kind(raw: bytes) -> str | None:
    """What a file that is not text looks like, or None for text."""
    for signature, kind in _SIGNATURES.items():
        if raw.startswith(signature):
            return kind
    if not raw.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" in raw[:4096]:
        return "not a text file (or UTF-16 without a byte-order mark)"
    return None


def sniff_separator(header: str) -> str | None:
    """The separator of a header line: the most frequent of ``;``, tab and ``,``.

    Parameters
    ----------
    header : str
        The header line.

    Returns
    -------
    str or None
        The separator, or None when the line holds none of them or two of
        them equally often (the caller reports why).
    """
    counts = sorted(((header.count(s), s) for s in SEPARATORS), reverse=True)
    if counts[0][0] == 0 or counts[0][0] == counts[1][0]:
        return None
    return counts[0][1]


def normalise_column(name: str) -> str:
    """A header cell as a column name: stripped, lower-case, inner spaces as ``_``.

    Parameters
    ----------
    name : str

    Returns
    -------
    str
    """
    return "_".join(name.strip().lower().split())


@dataclass(frozen=True)
class Table:
    """A study CSV file read by the study rule.

    Attributes
    ----------
    file : str
        The path, as given; every problem names it.
    frame : pandas.DataFrame
        One row per data row of the file, in file order: the required and
        optional columns as stripped strings (``""`` for a blank cell or an
        optional column the file lacks) and :data:`LINE`, the row's line
        number as an editor shows it.
    problems : list of Problem
        Row-level problems found while reading (a row with too many fields,
        which is left out of `frame`); readers append their own.
    header : tuple of str
        The file's column names, normalised, in file order.
    header_line : int
        The header's line number.
    separator : str
        ``";"``, ``"\\t"`` or ``","``.
    encoding : str
        How the file was decoded (see :func:`decode`).
    """

    file: str
    frame: pd.DataFrame
    problems: list[Problem] = field(default_factory=list)
    header: tuple[str, ...] = ()
    header_line: int = 1
    separator: str = ","
    encoding: str = "utf-8"

    @property
    def decimal_comma(self) -> bool:
        """Whether numbers may use a decimal comma (not in a ``,``-separated file)."""
        return self.separator != ","

    def parse_number(self, text: str) -> float | None:
        """:func:`parse_number` with this file's decimal-comma rule."""
        return parse_number(text, decimal_comma=self.decimal_comma)

    def parse_int(self, text: str) -> int | None:
        """:func:`parse_int` with this file's decimal-comma rule."""
        return parse_int(text, decimal_comma=self.decimal_comma)

    def parse_numbers(self, values: pd.Series) -> pd.Series:
        """:func:`parse_numbers` with this file's decimal-comma rule."""
        return parse_numbers(values, decimal_comma=self.decimal_comma)

    def number_hint(self, text: str) -> str:
        """:func:`number_hint` with this file's decimal-comma rule."""
        return number_hint(text, decimal_comma=self.decimal_comma)

    def rows(self) -> Iterator[Row]:
        """The data rows in file order, each ready to be checked cell by cell."""
        for cells in self.frame.to_dict("records"):
            yield Row(self, cells)

    def raise_problems(self) -> None:
        """Stop the reader with every problem of the file together, if it has any.

        Raises
        ------
        pipeline.errors.ValidationError
            When `problems` is not empty.
        """
        if self.problems:
            raise ValidationError(self.problems)


class Row:
    """One data row of a :class:`Table` and the checks of its cells.

    Each check returns the cell's value, or None when the cell fails; a failed
    check adds its problem (file, line, column) to the table's problems and
    sets ``ok`` to False, so a reader runs every check of a row, then keeps
    the row only if ``ok``.

    Parameters
    ----------
    table : Table
        The file the row belongs to.
    cells : mapping of str to str
        The row of ``table.frame``, with its :data:`LINE`.
    """

    def __init__(self, table: Table, cells: Mapping[str, object]) -> None:
        self.table = table
        self.cells = cells
        self.line = int(cells[LINE])
        self.ok = True

    def __getitem__(self, column: str) -> str:
        """The cell as text (``""`` when blank)."""
        return str(self.cells[column])

    def problem(self, column: str, message: str) -> None:
        """Record a problem with the cell in `column`; the row is not kept."""
        self.table.problems.append(Problem(self.table.file, message, self.line, column))
        self.ok = False

    def text(self, column: str) -> str | None:
        """A cell that must not be blank."""
        if not self[column]:
            self.problem(column, f"{column} is blank")
            return None
        return self[column]

    def date(self, column: str) -> date | None:
        """A date written ``YYYY-MM-DD``."""
        value = parse_date(self[column])
        if value is None:
            self.problem(column, f"'{self[column]}' is not a date written YYYY-MM-DD")
        return value

    def choice(self, column: str, choices: Sequence[str]) -> str | None:
        """One of `choices` (lower case), matched regardless of case."""
        value = self[column].casefold()
        if value not in choices:
            self.problem(
                column,
                f"unknown {column} '{self[column]}' (expected one of: {', '.join(choices)})",
            )
            return None
        return value

    def positive_number(self, column: str, *, optional: bool = False) -> float | None:
        """A number above 0; with `optional`, a blank cell is None without a problem."""
        text = self[column]
        if optional and not text:
            return None
        value = self.table.parse_number(text)
        if value is None or not value > 0:
            hint = self.table.number_hint(text) if value is None else ""
            self.problem(column, f"{column} '{text}' is not a positive number{hint}")
            return None
        return value

    def municipality_and_place(
        self, municipalities: dict[str, str], places: dict[str, str | None] | None
    ) -> tuple[str | None, str | None]:
        """The row's municipality and optional place, by :func:`check_municipality_and_place`.

        Returns
        -------
        municipality : str or None
            The canonical spelling, or None when unknown or blank.
        place : str or None
            The place id, or None when blank.
        """
        found, place, ok = check_municipality_and_place(
            self.table.file,
            self.line,
            self["municipality"],
            self["place_id"],
            municipalities,
            places,
            self.table.problems,
        )
        self.ok &= ok
        return found, place


def read_table(
    path: str | Path,
    *,
    required: Sequence[str],
    optional: Sequence[str] = (),
    other_columns: str = "ignore",
) -> Table:
    """Read a study CSV file by the study rule (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The file.
    required : sequence of str
        Columns the file must have (normalised names, e.g. ``"place_id"``).
    optional : sequence of str, default ()
        Columns the file may have; blank in `frame` when it has not.
    other_columns : {"ignore", "error"}, default "ignore"
        What to do with any other named column. A name close to an expected
        column the file lacks (``plats_id`` for ``place_id``) is always an
        error naming the close match, so that a misspelt optional column is
        never silently ignored. Any other unknown column is an error with
        ``"error"``, and with ``"ignore"`` an :class:`~pipeline.errors.InputWarning`
        naming it. An unnamed column is ignored while it holds nothing.

    Returns
    -------
    Table
        The rows as strings with their line numbers, the row-level problems
        found so far, and the separator and encoding used.

    Raises
    ------
    pipeline.errors.ValidationError
        At once, when nothing can be checked row by row: the file is missing,
        unreadable, binary or empty; its header shows no separator or an
        ambiguous one; a column is missing, unknown (with
        ``other_columns="error"``) or named twice; or there is no data row.
    """
    if other_columns not in ("ignore", "error"):
        raise ValueError(f"other_columns must be 'ignore' or 'error', got {other_columns!r}")
    file = str(path)
    path = Path(path)
    if not path.is_file():
        message = "is a folder, not a file" if path.is_dir() else "file not found"
        raise ValidationError.single(file, message)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValidationError.single(file, f"cannot read the file ({exc.strerror or exc})") from exc
    if kind := _binary_kind(raw):
        raise ValidationError.single(
            file, f"this is {kind}, not a CSV file: save it as CSV (';'-separated) and try again"
        )
    text, encoding = decode(raw)
    if encoding in ("cp1252", "latin-1") and (mixed := _mixed_encoding(raw)):
        utf8_line, other_line = mixed
        raise ValidationError.single(
            file,
            f"the file mixes encodings: row {utf8_line} is UTF-8 but row {other_line} is not "
            "(Windows-1252?), so some letters would be misread (e.g. 'ä' as 'Ã¤'). Save the "
            "whole file in one encoding, preferably UTF-8",
            row=utf8_line,
        )

    first_line, header_text = _first_content_line(text)
    if header_text is None:
        raise ValidationError.single(file, "the file is empty", row=1)
    separator = sniff_separator(header_text)
    if separator is None:
        raise ValidationError.single(file, _separator_message(header_text), row=first_line)
    parsed = _parse(file, text, separator)
    if parsed.header is None:
        raise ValidationError.single(file, "the file is empty", row=1)
    names = [normalise_column(h) for h in parsed.header]
    _check_header(file, names, parsed, required, optional, other_columns)
    if not len(parsed.lines) and not parsed.too_long:
        raise ValidationError.single(
            file, "the file has a header but no data rows", parsed.header_line
        )

    width = len(names)
    problems = [_too_many_fields(file, line, n, width, separator) for line, n in parsed.too_long]
    columns: dict[str, object] = {}
    for name in [*required, *optional]:
        if name in names:
            columns[name] = parsed.cells[names.index(name)]
        else:
            columns[name] = pd.Series("", index=parsed.cells.index, dtype=str)
    columns[LINE] = parsed.lines
    return Table(
        file=file,
        frame=pd.DataFrame(columns),
        problems=problems,
        header=tuple(names),
        header_line=parsed.header_line,
        separator=separator,
        encoding=encoding,
    )


@dataclass(frozen=True)
class _Parsed:
    """A file split into cells, before any column is looked at."""

    header: list[str] | None
    header_line: int
    #: Stripped cells of the data rows, columns by position, as wide as the header.
    cells: pd.DataFrame
    #: The line each data row starts on.
    lines: np.ndarray
    #: (line, number of fields) of rows with more non-empty fields than the header.
    too_long: list[tuple[int, int]]


def _parse(file: str, text: str, separator: str) -> _Parsed:
    """Split the text into rows and cells, with the line each row starts on."""
    # Without quotes every line is one row, and pandas' C parser is several times
    # faster than the csv module; anything unusual falls back to the general path.
    if '"' not in text:
        parsed = _parse_unquoted(text, separator)
        if parsed is not None:
            return parsed
    return _parse_general(file, text, separator)


def _parse_unquoted(text: str, separator: str) -> _Parsed | None:
    """The fast path for text without quotes, or None where it does not apply."""
    try:
        raw = pd.read_csv(
            io.StringIO(text),
            sep=separator,
            header=None,
            dtype=str,
            na_filter=False,
            skip_blank_lines=False,
            engine="c",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError):
        return None  # ragged rows or a blank first line
    raw.columns = range(raw.shape[1])
    cells = pd.DataFrame({i: raw[i].str.strip() for i in raw.columns})
    content = np.flatnonzero((cells != "").any(axis=1).to_numpy())
    if content.size == 0:
        return _Parsed(None, 1, cells.iloc[:0], np.zeros(0, dtype=np.int64), [])
    if content[0] != 0:
        return None  # the width was set by a blank line, not by the header
    rows = content[1:]
    return _Parsed(
        header=raw.iloc[0].tolist(),
        header_line=1,
        cells=cells.iloc[rows].reset_index(drop=True),
        lines=(rows + 1).astype(np.int64),
        too_long=[],
    )


def _parse_general(file: str, text: str, separator: str) -> _Parsed:
    """Any text, quoted fields spanning lines included, through the csv module."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    header: list[str] | None = None
    header_line = 1
    records: list[tuple[int, list[str]]] = []
    previous = 0
    try:
        for record in reader:
            start, previous = previous + 1, reader.line_num
            # A line of separators only is blank too, as a spreadsheet shows it.
            if not "".join(record).strip():
                continue
            if header is None:
                header, header_line = record, start
            else:
                records.append((start, record))
    except csv.Error as exc:
        raise ValidationError.single(
            file, f"not a readable CSV file ({exc})", row=previous + 1
        ) from exc
    width = len(header) if header is not None else 0
    kept: list[list[str]] = []
    lines: list[int] = []
    too_long: list[tuple[int, int]] = []
    for line, record in records:
        if len(record) > width:
            if any(f.strip() for f in record[width:]):
                too_long.append((line, len(record)))
                continue
            record = record[:width]  # trailing empty fields, as spreadsheets write them
        elif len(record) < width:
            record = record + [""] * (width - len(record))
        kept.append([f.strip() for f in record])
        lines.append(line)
    cells = pd.DataFrame(kept, columns=range(width), dtype=str)
    return _Parsed(header, header_line, cells, np.asarray(lines, dtype=np.int64), too_long)


def _first_content_line(text: str) -> tuple[int, str | None]:
    """The first line holding more than spaces, quotes and separators, and its number."""
    for number, line in enumerate(io.StringIO(text, newline=""), start=1):
        if re.sub(r"[\s;,\"]", "", line):
            return number, line
    return 1, None


def _separator_message(header: str) -> str:
    header = header.rstrip("\r\n")
    shown = header if len(header) <= 80 else header[:77] + "..."
    counts = {s: header.count(s) for s in SEPARATORS}
    if not any(counts.values()):
        return (
            f"cannot tell the separator: the header line '{shown}' holds no ';', tab or ','. "
            "Save the file as CSV with ';' (or ',') between the columns"
        )
    tied = [_SEPARATOR_NAMES[s] for s in SEPARATORS if counts[s] == max(counts.values())]
    return (
        f"cannot tell the separator: the header line '{shown}' holds {' and '.join(tied)} "
        "equally often. Use one separator between all columns"
    )


def _check_header(
    file: str,
    names: list[str],
    parsed: _Parsed,
    required: Sequence[str],
    optional: Sequence[str],
    other_columns: str,
) -> None:
    line = parsed.header_line
    problems: list[Problem] = []
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            problems.append(Problem(file, "column appears twice in the header", line, name))
        seen.add(name)
    missing = [name for name in required if name not in seen]
    shown = ", ".join(n for n in names if n) or "no names"
    hint = ""
    if missing and len(missing) == len(required):
        hint = "; is the header row missing?"
    for name in missing:
        problems.append(
            Problem(
                file,
                f"required column '{name}' is missing (the header has: {shown}{hint})",
                line,
                name,
            )
        )
    expected = [*required, *optional]
    absent = [n for n in expected if n not in seen]
    ignored: list[str] = []
    for i, name in enumerate(names):
        if name and name not in expected:
            # A misspelt column would otherwise be ignored and its data silently lost.
            close = difflib.get_close_matches(name, absent, n=1, cutoff=0.6)
            if close:
                problems.append(
                    Problem(
                        file,
                        f"unknown column: did you mean '{close[0]}'? (expected: "
                        f"{', '.join(expected)})",
                        line,
                        name,
                    )
                )
            elif other_columns == "error":
                problems.append(
                    Problem(file, f"unknown column (expected: {', '.join(expected)})", line, name)
                )
            else:
                ignored.append(name)
        elif other_columns == "error" and not name and (parsed.cells[i] != "").any():
            problems.append(
                Problem(file, f"column {i + 1} holds data but has no name in the header", line)
            )
    if problems:
        raise ValidationError(problems)
    for name in ignored:
        warnings.warn(
            InputWarning(
                f"{file}, row {line}, column '{name}': unknown column, ignored "
                f"(the columns read are: {', '.join(expected)})"
            ),
            stacklevel=3,
        )


def _too_many_fields(file: str, line: int, n: int, width: int, separator: str) -> Problem:
    hint = ""
    if separator == ",":
        hint = (
            " (a decimal comma splits a number in a comma-separated file: "
            "use a decimal point, or ';' as the separator)"
        )
    elif separator == ";":
        hint = " (a ';' inside a cell must be quoted)"
    return Problem(file, f"has {n} fields but the header has {width}{hint}", line)


# --------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------


def _normalise_number(text: str, decimal_comma: bool) -> str | None:
    """The number in `text` written with a decimal point and no grouping, or None."""
    text = text.strip().replace("\u2212", "-")
    if _PLAIN_NUMBER_RE.fullmatch(text):
        return text
    if _GROUPED_RE.fullmatch(text):
        text = re.sub(r"[ \u00a0\u202f]", "", text)
        if _PLAIN_NUMBER_RE.fullmatch(text):
            return text
    if decimal_comma and _COMMA_NUMBER_RE.fullmatch(text):
        return text.replace(",", ".")
    return None


def parse_number(text: str, *, decimal_comma: bool = True) -> float | None:
    """Parse one number by the study rule.

    Parameters
    ----------
    text : str
        The cell.
    decimal_comma : bool, default True
        Whether a decimal comma is allowed; False for a ``,``-separated file
        (:attr:`Table.decimal_comma`).

    Returns
    -------
    float or None
        None when the cell is blank or not a finite number by the rule.
    """
    normalised = _normalise_number(text, decimal_comma)
    if normalised is None:
        return None
    value = float(normalised)
    return value if math.isfinite(value) else None


def parse_numbers(values: pd.Series, *, decimal_comma: bool = True) -> pd.Series:
    """Parse a column of cells by the study rule, as :func:`parse_number` does one.

    Parameters
    ----------
    values : pandas.Series of str
        Stripped cells, as in :attr:`Table.frame`.
    decimal_comma : bool, default True
        Whether a decimal comma is allowed.

    Returns
    -------
    pandas.Series of float
        NaN where a cell is blank or not a number; same index as `values`.
    """
    values = values.astype(str)
    # Plain numbers, the common case, are parsed in one vectorised step; only the
    # rest goes through the per-cell rule.
    plain = values.str.fullmatch(_PLAIN_NUMBER)
    text = values.where(plain)
    rest = ~plain & (values != "")
    if rest.any():
        text[rest] = [_normalise_number(v, decimal_comma) for v in values[rest]]
    out = pd.to_numeric(text, errors="coerce").astype(float)
    return out.where(np.isfinite(out))


def number_hint(text: str, *, decimal_comma: bool = True) -> str:
    """Why a cell is not a number by the study rule, as a clause to append to a message.

    Parameters
    ----------
    text : str
        A cell that :func:`parse_number` refused.
    decimal_comma : bool, default True
        Whether the file allows decimal commas.

    Returns
    -------
    str
        ``" (...)"`` with the reason, or ``""`` when there is nothing more
        specific to say than "not a number".
    """
    text = text.strip()
    ungrouped = re.sub(r"[ \u00a0\u202f]", "", text.replace("\u2212", "-"))
    if not decimal_comma and _COMMA_NUMBER_RE.fullmatch(ungrouped):
        return (
            " (in a comma-separated file a comma in a number could be a decimal comma or a "
            "thousands separator: write it with a decimal point, or save the file with ';' "
            "as the separator)"
        )
    if re.fullmatch(r"[+-]?\d{1,3}(?:[.,]\d{3})+(?:[.,]\d+)?", text) and (
        "," in text and "." in text or text.count(",") > 1 or text.count(".") > 1
    ):
        return " (write numbers without thousands separators, e.g. 1234.5)"
    return ""


def parse_int(text: str, *, decimal_comma: bool = True) -> int | None:
    """Parse a whole number by the study rule (``7``, ``7.0``, ``7,0``, ``1e1``).

    Parameters
    ----------
    text : str
    decimal_comma : bool, default True

    Returns
    -------
    int or None
        None when the cell is blank, not a number or not whole.
    """
    value = parse_number(text, decimal_comma=decimal_comma)
    if value is None or value != int(value):
        return None
    return int(value)


def parse_date(text: str) -> date | None:
    """Parse an ISO date ``YYYY-MM-DD``.

    Parameters
    ----------
    text : str

    Returns
    -------
    datetime.date or None
        None for any other form or an impossible date (``2021-02-30``).
    """
    if not _ISO_DATE.match(text):
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


# --------------------------------------------------------------------------
# Names of the study
# --------------------------------------------------------------------------


def canonical(values: Iterable[str]) -> dict[str, str]:
    """Map case-folded spellings to the canonical one (``"falun" -> "Falun"``).

    Parameters
    ----------
    values : iterable of str
        The canonical spellings.

    Returns
    -------
    dict of str to str
        Look a cell up with ``mapping.get(cell.casefold())``.
    """
    return {str(v).strip().casefold(): str(v).strip() for v in values}


def place_lookup(
    places: Iterable[str] | Mapping[str, str] | None,
) -> dict[str, str | None] | None:
    """Known places, each with its municipality where known.

    Parameters
    ----------
    places : iterable of str, mapping of str to str, or None
        Place ids, or ``place_id -> municipality``.

    Returns
    -------
    dict of str to (str or None), or None
        None when `places` is None (any place id is accepted).
    """
    if places is None:
        return None
    if isinstance(places, Mapping):
        return {str(k).strip(): str(v).strip() for k, v in places.items()}
    return {str(p).strip(): None for p in places}


def check_municipality_and_place(
    file: str,
    line: int,
    municipality: str,
    place: str,
    municipalities: dict[str, str],
    places: dict[str, str | None] | None,
    problems: list[Problem],
) -> tuple[str | None, str | None, bool]:
    """Check a row's municipality and optional place.

    Parameters
    ----------
    file : str
        The file, for problems.
    line : int
        The row's line number.
    municipality, place : str
        The cells; a blank place is allowed.
    municipalities : dict of str to str
        From :func:`canonical`.
    places : dict or None
        From :func:`place_lookup`; a place with a known municipality must lie
        in the row's municipality.
    problems : list of Problem
        Appended to.

    Returns
    -------
    municipality : str or None
        The canonical spelling, or None when unknown.
    place : str or None
        The place id, or None when blank.
    ok : bool
        Whether both cells passed.
    """
    ok = True
    found = municipalities.get(municipality.casefold())
    if not municipality:
        problems.append(Problem(file, "municipality is blank", line, "municipality"))
        ok = False
    elif found is None:
        known = ", ".join(sorted(municipalities.values()))
        problems.append(
            Problem(
                file,
                f"unknown municipality '{municipality}' (expected one of: {known})",
                line,
                "municipality",
            )
        )
        ok = False
    place_id = place or None
    if place_id is not None and places is not None:
        if place_id not in places:
            problems.append(Problem(file, f"unknown place_id '{place_id}'", line, "place_id"))
            ok = False
        else:
            owner = places[place_id]
            if owner is not None and found is not None and owner.casefold() != found.casefold():
                problems.append(
                    Problem(
                        file,
                        f"place '{place_id}' belongs to {owner}, not {found}",
                        line,
                        "place_id",
                    )
                )
                ok = False
    return found, place_id, ok
