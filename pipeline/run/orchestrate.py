"""Run the study: validate, compute the municipalities' evaluations, the study level, then
the notebooks and the comparative report.

The statistics are computed in worker processes, outside any kernel, each municipality's
evaluation in parts spread over the workers, and stored in its folder; the study-level step
adjusts every municipality's p-values together; only then do the notebooks run, each displaying
its stored evaluation with the adjusted p-values. Parameters are checked against each notebook's
declared parameters before any kernel starts. A municipality whose computation or notebook fails
is listed as failed in ``run_status.json`` (a failed notebook keeps its partial executed
notebook) and in the comparative report, and does not stop the others; the run then ends with a
non-zero exit.

What runs again: a municipality's evaluation when its key (:mod:`pipeline.run.cache`) changed,
and of it only the parts whose own key changed (the others are kept with it, by key);
the study-level step when any evaluation changed; a municipality's notebook when its evaluation
or its rows of the study-level step changed (a change in one municipality moves the adjusted
p-values of others), or when it failed last time.

A run never leaves half-written results: everything is written in a staging folder beside the
study's reports, which replaces the reports folder only when every notebook has ended, and each
notebook and its HTML are moved into place only once complete. A killed run therefore leaves
the previous complete results (or nothing). Every step holds the study's lock, so a second run
of the same study is refused with a message instead of writing the same files.

The phases stay in one module (over 500 lines): they share the staging folder, the lock and
the run status that make a run all or nothing.
"""

from __future__ import annotations

import functools
import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path

import nbformat
from threadpoolctl import threadpool_limits

from ..errors import PipelineError
from ..evaluation.municipality import (
    Part,
    assemble,
    evaluate_part,
    evaluation_frames,
    evaluation_parts,
    store_evaluation,
)
from ..evaluation.study import run_study_step
from ..inputs.prepare import MANIFEST_FILE, load_processed, prepare_study
from ..report.final_texts import check_report_texts
from ..report.i18n import t
from . import cache
from .notebooks import (
    KERNEL_NAME,
    NotebookRun,
    WarmKernel,
    check_parameters,
    ensure_kernel,
    execute_notebook,
)
from .paths import (
    EFFECTS_FILE,
    PARTS_FILE,
    REPO_ROOT,
    REPORT_KEY_FILE,
    RUN_STATUS_FILE,
    STUDY_KEY_FILE,
    StudyPaths,
    read_status,
    study_lock,
)

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
MUNICIPALITY_NOTEBOOK = NOTEBOOK_DIR / "evaluate_municipality.ipynb"
COMPARATIVE_NOTEBOOK = NOTEBOOK_DIR / "comparative_report.ipynb"
#: What the comparative report's notebook imports, run in its kernel ahead of it.
REPORT_IMPORTS = "import pipeline.report.comparative, pipeline.report.html, pipeline.report.i18n"
#: What the comparative report writes into the study's reports folder; an
#: evaluation run drops them, since they no longer describe its results.
COMPARATIVE_OUTPUTS = (
    "comparative_report.ipynb",
    "comparative_report.html",
    "effects.csv",
    "effects.provenance.json",
    "pooled_effects.csv",
)


def municipality_parameters(
    paths: StudyPaths, municipality: str, lang: str, output_dir: Path | None = None
) -> dict[str, str]:
    """What the evaluation notebook receives. Paths are passed as strings.

    ``output_dir`` defaults to the municipality's report folder; a run passes
    its staging folder instead.
    """
    return {
        "processed_dir": str(paths.processed_dir),
        "municipality": municipality,
        "lang": lang,
        "output_dir": str(output_dir or paths.municipality_dir(municipality)),
    }


def report_parameters(paths: StudyPaths, lang: str) -> dict[str, str]:
    """What the comparative report notebook receives."""
    return {
        "processed_dir": str(paths.processed_dir),
        "reports_dir": str(paths.reports_dir),
        "lang": lang,
    }


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(paths: StudyPaths) -> None:
    """Validate the raw study (the final report's texts included) and write its processed form."""
    # The texts are checked first so that a typo in a heading stops the run before any
    # model does, not after the whole evaluation.
    check_report_texts(paths.study_dir)
    data = prepare_study(paths.study_dir, paths.processed_dir, lock=study_lock(paths))
    for warning in data.manifest.get("warnings", []):
        _log(f"warning: {warning}")
    _log(
        f"validated {paths.study_dir.name}: {data.manifest['n_rows']} rows -> {paths.processed_dir}"
    )


def evaluate(
    paths: StudyPaths,
    *,
    lang: str = "sv",
    jobs: int | None = None,
    municipalities: list[str] | None = None,
    kernel_name: str = KERNEL_NAME,
    force: bool = False,
    on_computed: Callable[[], None] | None = None,
) -> list[NotebookRun]:
    """Compute the municipalities' evaluations, the study level, then their notebooks.

    ``on_computed`` is called once the evaluations are computed, when the study-level step
    (in this process) leaves the workers' cores free: ``run`` starts the comparative report's
    kernel there.

    Three phases, all in a staging folder that replaces the reports folder when done:

    1. computation: each municipality whose key (:mod:`pipeline.run.cache`: its slice of the
       study, the parameters and the code) differs from its stored evaluation's, or with
       ``force``, is evaluated again in worker processes, its parts spread over them; a
       municipality whose computation fails is recorded and left out, the others go on;
    2. the study-level step (families, adjusted p-values, pools) over every municipality
       whose evaluation is complete;
    3. the notebooks: a municipality's notebook is executed again when what it displays
       changed, its evaluation or its rows of the study-level step (an adjusted p-value moves
       whenever another municipality's primary estimate does), or when it failed last time.
       It displays the stored evaluation and computes nothing again.
    """
    if not (paths.processed_dir / MANIFEST_FILE).is_file():
        raise PipelineError(
            f"no processed study at {paths.processed_dir}: run the 'validate' step first"
        )
    one_blas_thread()
    data = load_processed(paths.processed_dir)
    study = data.study
    names = municipalities or study.municipality_names
    unknown = sorted(set(names) - set(study.municipality_names))
    if unknown:
        raise PipelineError(
            f"unknown municipalities {unknown}; the study has {study.municipality_names}"
        )
    folders = {
        name: paths.municipality_dir(name, study.municipality(name).kommunkod)
        for name in study.municipality_names
    }
    code = cache.code_digest()
    keys = {name: cache.municipality_key(data, name, {"lang": lang}, code) for name in names}
    order = {name: i for i, name in enumerate(study.municipality_names)}
    with study_lock(paths):
        _remove_leftovers(paths)
        previous = _previous_runs(paths)
        current = {
            name
            for name in names
            if not force
            and name in previous
            and previous[name].status == "ok"
            and cache.stored_key(folders[name]) == keys[name]
            and cache.stored_key(folders[name], STUDY_KEY_FILE) == keys[name]
        }
        # Municipalities not asked for this time keep their last record in the status.
        kept = [previous[n] for n in study.municipality_names if n not in names and n in previous]
        if len(current) == len(names) and _study_level_current(paths, folders):
            _log(f"unchanged since their last run: {', '.join(names)}")
            reused = [replace(previous[n], reused=True, computed=False, seconds=0.0) for n in names]
            runs = sorted([*reused, *kept], key=lambda r: order[r.municipality])
            _write_status(paths, runs)
            return [r for r in runs if r.municipality in names]
        paths.reports_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{paths.name}.run-", dir=paths.reports_dir.parent))
        try:
            _carry_over(paths, staging)
            staged = {name: staging / folders[name].name for name in study.municipality_names}
            to_compute = [n for n in names if force or cache.stored_key(staged[n]) != keys[n]]
            if unchanged := [n for n in names if n not in to_compute]:
                _log(f"evaluations unchanged since their last run: {', '.join(unchanged)}")
            failed = _compute(
                paths,
                data,
                {n: staged[n] for n in to_compute},
                keys,
                lang,
                jobs,
                code=code,
                force=force,
            )
            if on_computed is not None:
                on_computed()
            computed = [n for n in names if n not in failed]
            complete = [
                n
                for n in study.municipality_names
                if n not in failed and cache.stored_key(staged[n]) is not None
            ]
            _study_step_in(paths, data, staging, staged, complete)
            report_keys = {
                n: cache.combined_key(
                    cache.stored_key(staged[n]) or "", (staged[n] / EFFECTS_FILE).read_bytes()
                )
                for n in computed
            }
            to_render = [
                n
                for n in computed
                if force
                or n in to_compute
                or n not in previous
                or previous[n].status != "ok"
                or cache.stored_key(staged[n], REPORT_KEY_FILE) != report_keys[n]
            ]
            rendered = _run_municipalities(
                paths, {n: folders[n] for n in to_render}, staging, lang, jobs, kernel_name
            )
            for run in rendered:
                if run.status == "ok":
                    cache.store_key(
                        staged[run.municipality], report_keys[run.municipality], REPORT_KEY_FILE
                    )
            new = {
                run.municipality: replace(run, computed=run.municipality in to_compute)
                for run in rendered
            }
            new.update(failed)
            for name in names:
                if name not in new:
                    new[name] = replace(previous[name], reused=True, computed=False, seconds=0.0)
            runs = sorted([*new.values(), *kept], key=lambda r: order[r.municipality])
            _publish(paths, staging, runs)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return [r for r in runs if r.municipality in names]


# Each worker process keeps the study it last loaded, so the parts of one run load it once.
_LOADED: dict[tuple[str, bytes], tuple] = {}


@functools.cache
def one_blas_thread() -> None:
    """Limit this process, and the kernels it starts, to one BLAS thread.

    A run is parallel over worker processes. BLAS threads on top of them compete for the
    same cores, and for the designs' small matrices their waiting costs far more than the
    arithmetic they share out. A thread count the user set in the environment is kept.
    """
    names = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
    if any(name in os.environ for name in names):
        return  # the user's choice, which the library read when it was loaded
    for name in names:
        os.environ[name] = "1"  # for the kernels and processes started from here
    threadpool_limits(limits=1, user_api="blas")


def _study_in_worker(processed_dir: str):
    manifest = (Path(processed_dir) / MANIFEST_FILE).read_bytes()
    key = (processed_dir, manifest)
    if key not in _LOADED:
        _LOADED.clear()
        data = load_processed(processed_dir)
        _LOADED[key] = (data, evaluation_frames(data))
    return _LOADED[key]


def compute_part(processed_dir: str, municipality: str, part: Part):
    """One part of a municipality's evaluation, in a worker process."""
    one_blas_thread()
    data, frames = _study_in_worker(processed_dir)
    return evaluate_part(data, municipality, part, frames)


def _compute(
    paths: StudyPaths,
    data,
    folders: dict[str, Path],
    keys: dict[str, str],
    lang: str,
    jobs: int | None,
    *,
    code: str,
    force: bool = False,
) -> dict[str, NotebookRun]:
    """Evaluate each municipality into its (staged) folder, every part in a worker process.

    A part whose key (:func:`cache.part_key`) matches one stored with the municipality's last
    evaluation is taken from there (unless ``force``); the others are computed. Returns the
    municipalities whose computation failed, as failed runs; a failure (an error in a part, a
    worker that died) is recorded and never stops the others.
    """
    if not folders:
        return {}
    parts = {name: evaluation_parts(data, name) for name in folders}
    part_keys = {}
    for name, name_parts in parts.items():
        made: dict[str | None, str] = {}
        part_keys[name] = [
            cache.part_key(data, name, part, {"lang": lang}, code, made) for part in name_parts
        ]
    results: dict[str, list] = {name: [None] * len(p) for name, p in parts.items()}
    queue = []
    for name, name_parts in parts.items():
        stored = {} if force else _stored_parts(folders[name])
        for i, part in enumerate(name_parts):
            if part_keys[name][i] in stored:
                results[name][i] = stored[part_keys[name][i]]
            else:
                queue.append((name, i, part))
    total = sum(len(p) for p in parts.values())
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(queue) or 1))
    _log(
        f"computing {len(folders)} municipalities ({len(queue)} of {total} parts, the others "
        f"unchanged), {jobs} at a time"
    )
    started = time.perf_counter()
    errors: dict[str, str] = {}
    # The panels first: they take far longer than the other parts, which then fill the gaps,
    # so no worker is left alone with a panel at the end.
    queue.sort(key=lambda item: item[2].kind != "panel")
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(compute_part, str(paths.processed_dir), name, part): (name, i)
            for name, i, part in queue
        }
        for future in as_completed(futures):
            name, i = futures[future]
            try:
                results[name][i] = future.result()
            except Exception as exc:  # a part that fails fails its municipality alone
                errors.setdefault(name, f"{type(exc).__name__}: {exc}")
    failed = {}
    for name, folder in folders.items():
        seconds = round(time.perf_counter() - started, 2)
        if name not in errors:
            try:
                evaluation = assemble(name, results[name])
                parameters = {
                    "processed_dir": str(paths.processed_dir),
                    "municipality": name,
                    "lang": lang,
                }
                shutil.rmtree(folder, ignore_errors=True)
                store_evaluation(data, evaluation, folder, keys[name], parameters)
                _store_parts(folder, dict(zip(part_keys[name], results[name], strict=True)))
                _log(f"{name}: computed")
                continue
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
        # No results of an earlier evaluation may stand for this one.
        shutil.rmtree(folder, ignore_errors=True)
        _log(f"{name}: the computation failed: {errors[name]}")
        failed[name] = NotebookRun(
            municipality=name,
            status="failed",
            notebook=None,
            html=None,
            seconds=seconds,
            error=errors[name],
            stage="computation",
        )
    return failed


def _stored_parts(folder: Path) -> dict:
    """The results of the parts of the evaluation last stored in ``folder``, by part key
    (empty when there are none or they cannot be read: the parts are then computed)."""
    try:
        with (folder / PARTS_FILE).open("rb") as file:
            stored = pickle.load(file)
    except Exception:  # a missing, truncated or foreign file only costs a computation
        return {}
    return stored if isinstance(stored, dict) else {}


def _store_parts(folder: Path, results: dict) -> None:
    tmp = folder / f".{PARTS_FILE}.tmp"
    tmp.write_bytes(pickle.dumps(results, pickle.HIGHEST_PROTOCOL))
    tmp.replace(folder / PARTS_FILE)


def _study_step_in(
    paths: StudyPaths, data, folder: Path, staged: dict[str, Path], complete: list[str]
) -> None:
    """The study-level step over the complete evaluations in ``folder``; each municipality's
    folder and the study's then record which evaluations it adjusted."""
    status = [
        {"municipality": name, "status": "ok" if name in complete else "failed"}
        for name in data.study.municipality_names
    ]
    results = run_study_step(
        data,
        folder,
        status,
        parameters={
            "processed_dir": paths.processed_dir.name,
            "reports_dir": paths.reports_dir.name,
        },
    )
    for problem in results.problems:
        _log(f"study level: {problem}")
    _log(f"study level: {len(results.effects)} effects, {len(results.pooled)} pools")
    for name in complete:
        cache.store_key(staged[name], cache.stored_key(staged[name]), STUDY_KEY_FILE)
    cache.store_key(folder, _study_level_key(staged), STUDY_KEY_FILE)


def _study_level_key(folders: dict[str, Path]) -> str:
    """The key of every municipality's stored evaluation together."""
    return cache.combined_key(
        *(f"{name}={cache.stored_key(folder) or ''}" for name, folder in folders.items())
    )


def _study_level_current(paths: StudyPaths, folders: dict[str, Path]) -> bool:
    """Whether the study-level files describe the evaluations now stored."""
    return (paths.reports_dir / EFFECTS_FILE).is_file() and cache.stored_key(
        paths.reports_dir, STUDY_KEY_FILE
    ) == _study_level_key(folders)


def _run_municipalities(
    paths: StudyPaths,
    folders: dict[str, Path],
    staging: Path,
    lang: str,
    jobs: int | None,
    kernel_name: str,
) -> list[NotebookRun]:
    """Run every municipality's notebook into ``staging``; the runs name their final paths."""
    names = list(folders)
    if not names:
        return []
    if kernel_name == KERNEL_NAME:
        ensure_kernel(kernel_name)
    runs_parameters = {
        name: municipality_parameters(paths, name, lang, staging / folders[name].name)
        for name in names
    }
    for parameters in runs_parameters.values():
        check_parameters(MUNICIPALITY_NOTEBOOK, parameters)
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(names)))
    _log(f"rendering {len(names)} municipalities' reports, {jobs} at a time")
    runs: list[NotebookRun] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                execute_notebook,
                name,
                MUNICIPALITY_NOTEBOOK,
                staging / folders[name].name,
                "evaluation",
                parameters,
                kernel_name,
                title=t("municipality_title", lang, municipality=name),
            ): name
            for name, parameters in runs_parameters.items()
        }
        for done, future in enumerate(as_completed(futures), start=1):
            run = _moved(future.result(), staging, paths.reports_dir)
            runs.append(run)
            detail = "" if run.status == "ok" else f" at cell {run.failed_cell}: {run.error}"
            _log(
                f"[{done}/{len(names)}] {run.municipality}: {run.status} in {run.seconds:.1f} s{detail}"
            )
    order = {name: i for i, name in enumerate(names)}
    runs.sort(key=lambda r: order[r.municipality])
    return runs


def _moved(run: NotebookRun, staging: Path, reports_dir: Path) -> NotebookRun:
    """The run with its files named where they will be once the staging folder is in place."""

    def final(path: str | None) -> str | None:
        return None if path is None else str(reports_dir / Path(path).relative_to(staging))

    return replace(run, notebook=final(run.notebook), html=final(run.html))


def _remove_leftovers(paths: StudyPaths) -> None:
    """Staging folders of this study's runs that were killed (the caller holds the lock)."""
    parent = paths.reports_dir.parent
    for pattern in (f".{paths.name}.run-*", f".{paths.name}.old-*"):
        for leftover in parent.glob(pattern):
            shutil.rmtree(leftover, ignore_errors=True)


def _carry_over(paths: StudyPaths, staging: Path) -> None:
    """Copy the last run's results into ``staging``, where this run updates them.

    The comparative report is not carried over: it described the earlier results.
    """
    old = paths.reports_dir
    if not old.is_dir():
        return
    for entry in old.iterdir():
        if (
            entry.name in COMPARATIVE_OUTPUTS
            or entry.name == RUN_STATUS_FILE
            or entry.name.startswith(".")
        ):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, staging / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, staging / entry.name, follow_symlinks=False)


def _publish(paths: StudyPaths, staging: Path, runs: list[NotebookRun]) -> None:
    """Put the staged results in place of the study's reports folder."""
    old = paths.reports_dir
    _write_status(paths, runs, staging)
    if old.exists():
        trash = Path(tempfile.mkdtemp(prefix=f".{paths.name}.old-", dir=old.parent))
        old.rename(trash / old.name)
        staging.rename(old)
        shutil.rmtree(trash, ignore_errors=True)
    else:
        staging.rename(old)


def _previous_runs(paths: StudyPaths) -> dict[str, NotebookRun]:
    """The last run's record per municipality (empty when there is none or it is unreadable)."""
    try:
        records = read_status(paths)
    except (PipelineError, ValueError, KeyError):
        return {}
    fields = set(NotebookRun.__dataclass_fields__)
    runs = {}
    for record in records:
        try:
            runs[record["municipality"]] = NotebookRun(
                **{k: v for k, v in record.items() if k in fields}
            )
        except (TypeError, KeyError):
            continue
    return runs


def _relative(paths: StudyPaths, path: str | None) -> str | None:
    """A result's path relative to the study's reports folder (no machine paths in the status)."""
    if path is None or not Path(path).is_absolute():
        return path
    try:
        return Path(path).relative_to(paths.reports_dir).as_posix()
    except ValueError:
        return Path(path).name


def _write_status(paths: StudyPaths, runs: list[NotebookRun], folder: Path | None = None) -> None:
    records = [
        asdict(replace(r, notebook=_relative(paths, r.notebook), html=_relative(paths, r.html)))
        for r in runs
    ]
    status = {"study": paths.study_dir.name, "municipalities": records}
    target = (folder or paths.reports_dir) / RUN_STATUS_FILE
    tmp = target.with_suffix(".tmp")
    tmp.write_text(json.dumps(status, indent=2) + "\n", encoding="utf-8")
    tmp.replace(target)


def mark_outdated(paths: StudyPaths) -> None:
    """Date the run status to 1970 so that make sees it as out of date and runs again."""
    os.utime(paths.reports_dir / RUN_STATUS_FILE, (0, 0))


def notebooks_with_outputs() -> list[Path]:
    """Committed notebook templates that carry outputs or execution counts."""
    dirty = []
    for path in sorted(NOTEBOOK_DIR.glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        for cell in notebook.cells:
            if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None):
                dirty.append(path)
                break
    return dirty


def study_step(paths: StudyPaths) -> None:
    """Families, adjusted p-values and pools over the municipalities' results, without a kernel.

    ``evaluate`` runs it before the notebooks; run alone, it adjusts the evaluations the last
    run completed (the municipalities' notebooks show the new values after the next run).
    """
    status = read_status(paths)
    data = load_processed(paths.processed_dir)
    folders = {
        name: paths.municipality_dir(name, data.study.municipality(name).kommunkod)
        for name in data.study.municipality_names
    }
    complete = [
        row["municipality"]
        for row in status
        if row["status"] == "ok" and cache.stored_key(folders[row["municipality"]]) is not None
    ]
    with study_lock(paths):
        _study_step_in(paths, data, paths.reports_dir, folders, complete)


def warm_report_kernel(kernel_name: str = KERNEL_NAME) -> WarmKernel:
    """The comparative report's kernel, started and its modules imported ahead of the report."""
    if kernel_name == KERNEL_NAME:
        ensure_kernel(kernel_name)
    return WarmKernel(kernel_name, REPORT_IMPORTS)


def report(
    paths: StudyPaths,
    *,
    lang: str = "sv",
    kernel_name: str = KERNEL_NAME,
    kernel: WarmKernel | None = None,
) -> NotebookRun:
    """Run the comparative report notebook over the municipalities' results (in ``kernel``, a
    :func:`warm_report_kernel`, when given: the notebook's run shuts it down)."""
    if not (paths.reports_dir / RUN_STATUS_FILE).is_file():
        raise PipelineError(
            f"no evaluation results in {paths.reports_dir}: run the 'evaluate' step first"
        )
    parameters = report_parameters(paths, lang)
    check_parameters(COMPARATIVE_NOTEBOOK, parameters)
    if kernel_name == KERNEL_NAME:
        ensure_kernel(kernel_name)
    title = t("comparative_title", lang, title=load_processed(paths.processed_dir).study.title)
    data = load_processed(paths.processed_dir)
    folders = {
        name: paths.municipality_dir(name, data.study.municipality(name).kommunkod)
        for name in data.study.municipality_names
    }
    if not _study_level_current(paths, folders):
        study_step(paths)
    with study_lock(paths):
        run = execute_notebook(
            "comparative report",
            COMPARATIVE_NOTEBOOK,
            paths.reports_dir,
            "comparative_report",
            parameters,
            kernel_name,
            title=title,
            kernel=kernel,
        )
    detail = "" if run.status == "ok" else f" at cell {run.failed_cell}: {run.error}"
    _log(f"comparative report: {run.status} in {run.seconds:.1f} s{detail} -> {run.html}")
    return run
