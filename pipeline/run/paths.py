"""Where a study's raw data, processed data and reports live (no heavy imports).

Names are data, never paths: a study's folder name and a municipality's name
become folder names only through :func:`folder_name`, and every output folder
is checked to lie inside its root. A run holds the study's lock
(:func:`study_lock`) so that two runs of one study never write the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import PipelineError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STUDY = REPO_ROOT / "data" / "raw" / "trygga_platser_demo"
RUN_STATUS_FILE = "run_status.json"
#: Longest folder name made from a name (bytes are what file systems limit).
MAX_FOLDER_BYTES = 120
# Anything but letters (å, ä, ö included), digits, spaces, '-', '_' and '.'.
_UNSAFE = re.compile(r"[^\w \-.]")
#: The report languages; kept here so that the command line answers without heavy imports.
LANGUAGES = ("sv", "en")
EFFECTS_FILE = "effects.csv"
POOLED_FILE = "pooled_effects.csv"
PROVENANCE_FILE = "provenance.json"
STUDY_PROVENANCE_FILE = "effects.provenance.json"
#: A municipality's computed evaluation, which its notebook displays.
EVALUATION_FILE = "evaluation.pickle"
#: The rerun key (pipeline.run.cache) of the evaluation stored beside it.
KEY_FILE = "inputs.sha256"
#: The key of the evaluation whose rows the study-level step adjusted (in a municipality's
#: folder), or of every municipality's evaluation it adjusted together (in the study's).
STUDY_KEY_FILE = "study_level.sha256"
#: The key of what a municipality's notebook displayed: its evaluation and its adjusted rows.
REPORT_KEY_FILE = "report.sha256"
#: The results of each part of a municipality's evaluation, by the part's key, so that a
#: change computes again only the parts whose inputs changed.
PARTS_FILE = "parts.pickle"


class StatusError(PipelineError):
    """No run status exists yet for a study."""


class UnsafePathError(PipelineError):
    """A name would make a folder outside the folder it belongs in."""


class StudyLockedError(PipelineError):
    """Another run of the same study holds its lock."""


def folder_name(name: str, fallback: str | None = None) -> str:
    """The folder name made from a municipality's or a study's name.

    Letters (å, ä, ö included), digits, spaces, ``-``, ``_`` and inner dots
    are kept; every other character (``/``, ``\\``, ``:``, control characters,
    markup ...) becomes ``_``; leading and trailing dots, spaces and ``_`` go,
    so that ``..`` or ``.hidden`` cannot name a parent or hidden folder.

    Parameters
    ----------
    name : str
        The name as the study gives it.
    fallback : str, optional
        Used when nothing usable is left of `name` (e.g. the kommunkod).

    Returns
    -------
    str

    Raises
    ------
    UnsafePathError
        When neither `name` nor `fallback` leaves a usable folder name.
    """
    for candidate in (name, fallback):
        if candidate is None:
            continue
        text = unicodedata.normalize("NFC", str(candidate))
        text = _UNSAFE.sub("_", "".join(c if c.isprintable() else "_" for c in text))
        text = re.sub(r"_{2,}", "_", text)
        text = text.strip(" ._")
        while len(text.encode("utf-8")) > MAX_FOLDER_BYTES:
            text = text[:-1].rstrip(" ._")
        if text and set(text) != {"_"}:
            return text
    raise UnsafePathError(f"no folder name can be made from {name!r}")


def study_folder_name(study_dir: str | Path) -> str:
    """The study's folder name under the processed and reports roots.

    :func:`folder_name` of the study folder's own name, with spaces as ``_``
    so that make can name its files (make splits names at spaces).
    """
    return re.sub(r"_{2,}", "_", folder_name(Path(study_dir).resolve().name).replace(" ", "_"))


def make_file_list(paths: list[Path]) -> str:
    """Paths as a make prerequisite list: spaces and make's special characters escaped."""
    return " ".join(re.sub(r"([ \\:#%*?\[\]])", r"\\\1", str(p)) for p in paths)


def inside(root: Path, path: Path) -> Path:
    """``path`` resolved, after checking that it lies strictly inside ``root``.

    Raises
    ------
    UnsafePathError
    """
    root = root.resolve()
    resolved = path.resolve()
    if resolved == root or not resolved.is_relative_to(root):
        raise UnsafePathError(f"{path} is not inside {root}; refusing to write there")
    return resolved


@dataclass(frozen=True)
class StudyPaths:
    """Where a study's raw data, processed data and reports live.

    Reports of each language have a folder of their own
    (``reports/<study>/<lang>/``), so a run in one language never mixes with,
    or passes for, the other's.
    """

    study_dir: Path
    processed_dir: Path
    reports_dir: Path

    @classmethod
    def for_study(
        cls,
        study_dir: str | Path = DEFAULT_STUDY,
        processed_root: str | Path = REPO_ROOT / "data" / "processed",
        reports_root: str | Path = REPO_ROOT / "reports",
        lang: str = "sv",
    ) -> StudyPaths:
        if lang not in LANGUAGES:
            raise PipelineError(
                f"unknown report language '{lang}'; use one of {', '.join(LANGUAGES)}"
            )
        study_dir = Path(study_dir).resolve()
        name = study_folder_name(study_dir)
        processed_root, reports_root = Path(processed_root), Path(reports_root)
        return cls(
            study_dir,
            inside(processed_root, processed_root / name),
            inside(reports_root, reports_root / name / lang),
        )

    @property
    def name(self) -> str:
        """The study's folder name under the processed and reports roots."""
        return self.processed_dir.name

    def municipality_dir(self, municipality: str, kommunkod: str | None = None) -> Path:
        """A municipality's report folder: a safe name, always inside the study's reports."""
        return inside(
            self.reports_dir, self.reports_dir / folder_name(municipality, fallback=kommunkod)
        )

    @property
    def lock_file(self) -> Path:
        """The study's lock, beside (not inside) its reports folder, which a run replaces; one
        for both languages, since they share the processed study."""
        return self.reports_dir.parent / f".{self.name}.lock"


@contextlib.contextmanager
def study_lock(paths: StudyPaths) -> Iterator[None]:
    """Hold the study's lock for the duration; refuse at once when another run holds it.

    Raises
    ------
    StudyLockedError
        When another process holds the lock (its process id is named).
    """
    lock = paths.lock_file
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise StudyLockedError(
                f"another run of study '{paths.name}' is in progress (process {holder}, lock "
                f"{lock}); wait for it to finish and try again"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_in_progress(paths: StudyPaths) -> bool:
    """Whether a process holds the study's lock right now."""
    if not paths.lock_file.is_file():
        return False
    with open(paths.lock_file, encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def read_status(paths: StudyPaths) -> list[dict]:
    """The municipalities of the last evaluation run and how each ended.

    A municipality listed as ``ok`` whose report is no longer on disk is
    returned as ``missing``: the status never claims a report that is not there.
    """
    target = paths.reports_dir / RUN_STATUS_FILE
    if not target.is_file():
        raise StatusError(f"no evaluation has been run for {paths.name} ({target} is missing)")
    try:
        runs = json.loads(target.read_text("utf-8"))["municipalities"]
    except (ValueError, KeyError, TypeError) as exc:
        raise StatusError(f"{target} is damaged ({exc}); run the evaluation again") from None
    for run in runs:
        report = run.get("html") or run.get("notebook")  # relative to the reports folder
        if run.get("status") == "ok" and not (report and (paths.reports_dir / report).is_file()):
            run["status"] = "missing"
            run["error"] = f"{report} is missing"
    return runs


def _make_variables(argv: list[str]) -> int:
    """What the Makefile needs of a study: ``name STUDY``, ``inputs STUDY`` or ``texts STUDY``."""
    what, study = argv
    try:
        if what == "name":
            print(study_folder_name(study))
        else:
            # "inputs": the files the evaluation reads; "texts": the final report's own texts.
            suffixes = (".md",) if what == "texts" else (".yml", ".csv")
            found = [p for p in sorted(Path(study).glob("*")) if p.suffix in suffixes]
            print(make_file_list(found))
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_make_variables(sys.argv[1:]))
