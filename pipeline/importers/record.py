"""Writing an import's outputs, all or nothing, and the study's import record.

Every importer builds its outputs in memory and hands them to
:func:`write_import`, which writes each file beside a temporary name and
renames it into place only when all of them were written, then appends an
entry to ``imports.json``: the importer, its parameters, every source file with
its SHA-256, every file written with its SHA-256, and the notes the importer
made (gaps, offences outside every place ...).

Importers that produce series replace, in ``series.csv``, the rows of the
place and indicator pairs they produce and keep every other row
(:func:`merged_series`), so Brå's municipality series, the places' offence
counts and the footfall series can come from different importers.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from pipeline.errors import ValidationError
from pipeline.inputs.study import SERIES_FILE
from pipeline.inputs.tables import read_table
from pipeline.run.provenance import code_version, portable_path, sha256_file

RECORD_FILE = "imports.json"
SERIES_COLUMNS = ("place_id", "indicator", "period", "value", "exposure")


@dataclass(frozen=True)
class ImportResult:
    """What one import run produced, before anything is written.

    Attributes
    ----------
    importer : str
        The command's name, e.g. ``"import-bra"``.
    outputs : dict of str to bytes
        File name inside the study folder -> content.
    sources : tuple of Path
        Every file read.
    parameters : dict
        The choices that shaped the outputs (JSON-ready).
    notes : tuple of str
        What a user must know: gaps, dropped rows, preliminary figures.
    """

    importer: str
    outputs: dict[str, bytes]
    sources: tuple[Path, ...]
    parameters: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def format_number(value: float | int | None) -> str:
    """A number as a study CSV cell: whole numbers without a decimal point, blank for missing."""
    if value is None or pd.isna(value):
        return ""
    value = float(value)
    if value.is_integer():
        return str(int(value))
    return repr(value)


def csv_bytes(header: list[str] | tuple[str, ...], rows, *, delimiter: str = ",") -> bytes:
    """A UTF-8 CSV file of text cells, as the study contract reads it."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def merged_series(study_dir: Path, new: pd.DataFrame) -> tuple[bytes, int]:
    """``series.csv`` with `new`'s place and indicator pairs replaced.

    Parameters
    ----------
    study_dir : Path
        The study folder; its ``series.csv`` may be missing or a bare header.
    new : pandas.DataFrame
        Columns ``place_id``, ``indicator``, ``period`` (``YYYY-MM`` text or
        Period), ``value`` and ``exposure`` (NaN where not given).

    Returns
    -------
    content : bytes
        The whole new file, sorted by place, indicator and period.
    replaced : int
        How many existing rows were replaced.
    """
    path = study_dir / SERIES_FILE
    kept = pd.DataFrame(columns=list(SERIES_COLUMNS), dtype=str)
    if path.is_file():
        try:
            table = read_table(path, required=SERIES_COLUMNS[:4], optional=SERIES_COLUMNS[4:])
            kept = table.frame[list(SERIES_COLUMNS)].copy()
            # Numbers written the way this file allowed (a decimal comma in a ';' file) are
            # rewritten for the ','-separated file; a cell that is no number stays for
            # validate to report.
            for column in ("value", "exposure"):
                parsed = table.parse_numbers(kept[column])
                kept[column] = kept[column].where(parsed.isna(), [format_number(v) for v in parsed])
        except ValidationError as exc:
            if not _is_bare_header(exc):
                raise
    pairs = set(zip(new["place_id"], new["indicator"], strict=True))
    in_new = pd.Series(
        [(p, i) in pairs for p, i in zip(kept["place_id"], kept["indicator"], strict=True)],
        index=kept.index,
        dtype=bool,
    )
    fresh = pd.DataFrame(
        {
            "place_id": new["place_id"].astype(str),
            "indicator": new["indicator"].astype(str),
            "period": new["period"].astype(str),
            "value": [format_number(v) for v in new["value"]],
            "exposure": [format_number(v) for v in new["exposure"]],
        }
    )
    rows = pd.concat([kept.loc[~in_new], fresh], ignore_index=True)
    rows = rows.sort_values(["place_id", "indicator", "period"], kind="stable")
    content = csv_bytes(SERIES_COLUMNS, rows.itertuples(index=False, name=None))
    return content, int(in_new.sum())


def _is_bare_header(exc: ValidationError) -> bool:
    return len(exc.problems) == 1 and "no data rows" in exc.problems[0].message


def write_import(study_dir: str | Path, result: ImportResult) -> Path:
    """Write an import's outputs into the study folder and record it.

    Every output is first written to a temporary file in the study folder;
    only when all were written are they renamed into place, so an error
    leaves the study as it was.

    Parameters
    ----------
    study_dir : str or Path
        The study folder.
    result : ImportResult
        The outputs and what produced them.

    Returns
    -------
    Path
        The import record (``imports.json``).
    """
    study_dir = Path(study_dir)
    staged: list[tuple[Path, Path]] = []
    try:
        for name, content in result.outputs.items():
            target = study_dir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
            with os.fdopen(handle, "wb") as stream:
                stream.write(content)
            staged.append((Path(temp), target))
        record_path = study_dir / RECORD_FILE
        entries = _read_record(record_path)
        entries.append(_entry(study_dir, result))
        handle, temp = tempfile.mkstemp(prefix=f".{RECORD_FILE}-", dir=study_dir)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            json.dump({"imports": entries}, stream, indent=2, ensure_ascii=False)
            stream.write("\n")
        staged.append((Path(temp), record_path))
    except BaseException:
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        raise
    for temp, target in staged:
        os.replace(temp, target)
    return study_dir / RECORD_FILE


def _read_record(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    try:
        entries = json.loads(path.read_text("utf-8"))["imports"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValidationError.single(
            path, f"the import record is not readable ({exc}); move it away to start a new one"
        ) from None
    if not isinstance(entries, list):
        raise ValidationError.single(path, "'imports' must be a list")
    return entries


def _entry(study_dir: Path, result: ImportResult) -> dict:
    outputs = {}
    for name, content in result.outputs.items():
        outputs[name] = {"sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}
    return {
        "importer": result.importer,
        "imported_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "sources": [
            {"path": _shown(path, study_dir), "sha256": sha256_file(path)}
            for path in result.sources
        ],
        "outputs": outputs,
        "parameters": result.parameters,
        "notes": list(result.notes),
        "code": code_version(),
    }


def _shown(path: Path, study_dir: Path) -> str:
    """A source's path relative to the study folder, else as provenance shows paths.

    Never the machine's absolute path: the hash identifies the content.
    """
    try:
        return path.resolve().relative_to(study_dir.resolve()).as_posix()
    except ValueError:
        return portable_path(path)
