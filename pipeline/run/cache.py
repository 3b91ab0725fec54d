"""Reruns of only what changed: a key for each municipality's evaluation, and stored keys.

A municipality's results depend on its slice of the study (its places, the places they are compared
with, its rows of every table, and the study-wide settings), the run's parameters, and the code that
shapes the numbers (the package, the notebooks and the installed versions of the key packages). The
key is the SHA-256 of all of these; a municipality whose key matches the one stored beside its
evaluation is not computed again. Keys of what else was made from an evaluation (its rows of the
study-level step, its notebook) are stored the same way (:func:`store_key`, :func:`combined_key`).

Study-wide settings (title, indicators, shocks, analysis settings, survey waves …) are part of every
municipality's key, so a change there reruns them all; a change to one municipality's places or rows
reruns that municipality alone, and a change to a control area's rows every municipality (the panel
compares a municipality's targets with every control area of the study).

Within a municipality, a part of its evaluation for one indicator (a target's designs, the panel)
reads that indicator's series only: its key (:func:`part_key`) is the municipality's with the series
narrowed to that indicator, so a changed row computes again only the parts of its indicator.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
from pathlib import Path

import pandas as pd

from ..inputs.prepare import StudyData
from .paths import KEY_FILE, REPO_ROOT

PACKAGE_DIR = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO_ROOT / "notebooks"
# Versions that can change a number or a figure; a different install is a different result.
KEY_PACKAGES = ("numpy", "pandas", "scipy", "statsmodels", "matplotlib", "nbconvert", "papermill")
CODE_SUFFIXES = {".py", ".yml", ".yaml", ".j2", ".tpl", ".css", ".json", ".ipynb"}


def code_digest() -> str:
    """SHA-256 of the package's and the notebooks' files and the key packages' versions."""
    digest = hashlib.sha256()
    for root in (PACKAGE_DIR, NOTEBOOK_DIR):
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in CODE_SUFFIXES and "__pycache__" not in path.parts:
                digest.update(path.relative_to(root.parent).as_posix().encode())
                digest.update(b"\0")
                digest.update(path.read_bytes())
                digest.update(b"\0")
    for name in KEY_PACKAGES:
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{name}=={version}\n".encode())
    return digest.hexdigest()


def relevant_places(data: StudyData, municipality: str) -> set[str]:
    """The municipality's places, every place its targets are compared with, and every control
    area of the study (the panel and the pooled design of its targets compare with them all)."""
    own = [p for p in data.study.places if p.municipality == municipality]
    ids = {p.id for p in own}
    for place in own:
        ids.update(place.controls)
        ids.update(place.buffer_controls)
        if place.buffer:
            ids.add(place.buffer)
    ids.update(data.study.donor_pool)
    ids.update(p.id for p in data.study.places if p.role == "control")
    return ids


def _frame_digest(frame: pd.DataFrame) -> bytes:
    ordered = frame.reindex(sorted(frame.columns), axis=1)
    ordered = ordered.sort_values(list(ordered.columns), kind="mergesort").reset_index(drop=True)
    hashed = pd.util.hash_pandas_object(ordered.astype(str), index=False).to_numpy()
    return ",".join(ordered.columns).encode() + hashed.tobytes()


def municipality_key(
    data: StudyData,
    municipality: str,
    parameters: dict,
    code: str | None = None,
    indicator: str | None = None,
) -> str:
    """The key of one municipality's evaluation: its slice of the study, parameters and code.

    With ``indicator``, the series are narrowed to that indicator's rows (the other tables
    stay whole): the key of what the parts of that indicator read.
    """
    places = relevant_places(data, municipality)
    study = data.study.model_dump(mode="json")
    study["places"] = [p for p in study["places"] if p["id"] in places]
    study["municipalities"] = [m for m in study["municipalities"] if m["name"] == municipality]
    digest = hashlib.sha256()
    digest.update(json.dumps(study, sort_keys=True, ensure_ascii=False).encode())
    digest.update(json.dumps(parameters, sort_keys=True, ensure_ascii=False).encode())
    digest.update((code or code_digest()).encode())
    series = (
        data.series if indicator is None else data.series[data.series["indicator"] == indicator]
    )
    digest.update(f"indicator={indicator or '*'}".encode())
    tables = {"series": series, **data.tables}
    for name in sorted(tables):
        frame = tables[name]
        if "municipality" in frame.columns:
            frame = frame[frame["municipality"] == municipality]
        elif "place_id" in frame.columns:
            frame = frame[frame["place_id"].isin(places)]
        digest.update(name.encode())
        digest.update(_frame_digest(frame))
    return digest.hexdigest()


def part_key(
    data: StudyData,
    municipality: str,
    part,
    parameters: dict,
    code: str,
    keys: dict[str | None, str] | None = None,
) -> str:
    """The key of one part of a municipality's evaluation (a
    :class:`~pipeline.evaluation.municipality.Part`).

    A part of one indicator (a target's designs, the panel) takes the municipality's key with the
    series narrowed to that indicator; the others (survey, problems index, inspections) the whole
    municipality's key. ``keys`` holds the keys already made, by indicator (``None``: whole).
    """
    keys = {} if keys is None else keys
    indicator = part.indicator if part.kind in ("target", "panel") else None
    if indicator not in keys:
        keys[indicator] = municipality_key(data, municipality, parameters, code, indicator)
    return combined_key(keys[indicator], part.kind, part.place_id, part.indicator)


def combined_key(*parts: str | bytes) -> str:
    """SHA-256 of several keys or contents taken together, in order."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() if isinstance(part, str) else part)
        digest.update(b"\0")
    return digest.hexdigest()


def stored_key(output_dir: Path, name: str = KEY_FILE) -> str | None:
    """The key stored in ``output_dir`` under ``name`` (default: the evaluation's), if any."""
    path = Path(output_dir) / name
    return path.read_text("utf-8").strip() if path.is_file() else None


def store_key(output_dir: Path, key: str, name: str = KEY_FILE) -> None:
    """Record a key beside the results it describes (written last, so a killed run leaves none)."""
    path = Path(output_dir) / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(key + "\n", encoding="utf-8")
    tmp.replace(path)
