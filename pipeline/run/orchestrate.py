"""Run the notebooks: validate, one evaluation per municipality in parallel, then the report.

Parameters are checked against each notebook's declared parameters before any
kernel starts. A municipality whose notebook fails keeps its partial executed
notebook, is listed as failed in ``run_status.json`` and in the comparative
report, and does not stop the others; the run then ends with a non-zero exit.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from ..errors import ParameterError, PipelineError
from ..evaluation.study import run_study_step
from ..inputs.prepare import MANIFEST_FILE, load_processed, prepare_study
from .paths import REPO_ROOT, RUN_STATUS_FILE, StudyPaths, read_status

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
MUNICIPALITY_NOTEBOOK = NOTEBOOK_DIR / "evaluate_municipality.ipynb"
COMPARATIVE_NOTEBOOK = NOTEBOOK_DIR / "comparative_report.ipynb"
TEMPLATE_DIR = Path(__file__).parents[1] / "report" / "templates"
KERNEL_NAME = "trygga-platser"
EXECUTION_TIMEOUT = 900  # seconds per cell; a hung kernel must not hang CI


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook run ended."""

    municipality: str
    status: str  # "ok" or "failed"
    notebook: str
    html: str | None
    seconds: float
    failed_cell: int | None = None
    error: str | None = None


def check_parameters(notebook: Path, parameters: dict) -> None:
    """Raise ParameterError unless ``parameters`` are exactly the notebook's declared ones."""
    declared = set(papermill.inspect_notebook(str(notebook)))
    given = set(parameters)
    problems = []
    if unknown := sorted(given - declared):
        problems.append(f"unknown parameters {unknown}")
    if missing := sorted(declared - given):
        problems.append(f"missing parameters {missing}")
    if problems:
        raise ParameterError(
            f"{notebook.name}: " + "; ".join(problems) + f" (declared: {sorted(declared)})"
        )


def municipality_parameters(paths: StudyPaths, municipality: str, lang: str) -> dict[str, str]:
    """What the evaluation notebook receives. Paths are passed as strings."""
    return {
        "processed_dir": str(paths.processed_dir),
        "municipality": municipality,
        "lang": lang,
        "output_dir": str(paths.municipality_dir(municipality)),
    }


def report_parameters(paths: StudyPaths, lang: str) -> dict[str, str]:
    """What the comparative report notebook receives."""
    return {
        "processed_dir": str(paths.processed_dir),
        "reports_dir": str(paths.reports_dir),
        "lang": lang,
    }


def render_html(notebook_path: Path, html_path: Path) -> Path:
    """Render an executed notebook to HTML without code cells; images stay embedded."""
    exporter = HTMLExporter(
        template_name="report",
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_markdown=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(notebook_path, as_version=4))
    tmp = html_path.with_suffix(".html.tmp")
    tmp.write_text(body, encoding="utf-8")
    tmp.replace(html_path)
    return html_path


def execute_notebook(
    label: str,
    template: Path,
    output_dir: Path,
    stem: str,
    parameters: dict,
    kernel_name: str = KERNEL_NAME,
) -> NotebookRun:
    """Execute one notebook with papermill and render it; notebook errors are returned, not raised."""
    output_dir.mkdir(parents=True, exist_ok=True)
    ipynb = output_dir / f"{stem}.ipynb"
    html = output_dir / f"{stem}.html"
    started = time.perf_counter()
    failed_cell = error = None
    try:
        papermill.execute_notebook(
            str(template),
            str(ipynb),
            parameters=parameters,
            kernel_name=kernel_name,
            cwd=str(REPO_ROOT),
            progress_bar=False,
            execution_timeout=EXECUTION_TIMEOUT,
            # The kernel's start-up chatter (transport warnings) is noise in a batch log;
            # cell errors still reach the executed notebook and the run status.
            extra_arguments=["--IPKernelApp.log_level=ERROR"],
        )
    except PapermillExecutionError as exc:
        failed_cell, error = exc.exec_count, f"{exc.ename}: {exc.evalue}"
    except (
        Exception
    ) as exc:  # a kernel that dies or cannot start: report it as this notebook's failure
        error = f"{type(exc).__name__}: {exc}"
    rendered = None
    if ipynb.is_file():
        rendered = str(render_html(ipynb, html))
    return NotebookRun(
        municipality=label,
        status="ok" if error is None else "failed",
        notebook=str(ipynb),
        html=rendered,
        seconds=round(time.perf_counter() - started, 2),
        failed_cell=failed_cell,
        error=error,
    )


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare(paths: StudyPaths) -> None:
    """Validate the raw study and write its processed form."""
    data = prepare_study(paths.study_dir, paths.processed_dir)
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
) -> list[NotebookRun]:
    """Run the evaluation notebook once per municipality, ``jobs`` at a time."""
    if not (paths.processed_dir / MANIFEST_FILE).is_file():
        raise PipelineError(
            f"no processed study at {paths.processed_dir}: run the 'validate' step first"
        )
    study = load_processed(paths.processed_dir).study
    names = municipalities or study.municipality_names
    unknown = sorted(set(names) - set(study.municipality_names))
    if unknown:
        raise PipelineError(
            f"unknown municipalities {unknown}; the study has {study.municipality_names}"
        )
    runs_parameters = {name: municipality_parameters(paths, name, lang) for name in names}
    for parameters in runs_parameters.values():
        check_parameters(MUNICIPALITY_NOTEBOOK, parameters)

    paths.reports_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        # Stale results of an earlier run must never pass for this run's.
        shutil.rmtree(paths.municipality_dir(name), ignore_errors=True)

    jobs = max(1, min(jobs or os.cpu_count() or 1, len(names)))
    _log(f"evaluating {len(names)} municipalities, {jobs} at a time")
    runs: list[NotebookRun] = []
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        futures = {
            pool.submit(
                execute_notebook,
                name,
                MUNICIPALITY_NOTEBOOK,
                paths.municipality_dir(name),
                "evaluation",
                parameters,
                kernel_name,
            ): name
            for name, parameters in runs_parameters.items()
        }
        for done, future in enumerate(as_completed(futures), start=1):
            run = future.result()
            runs.append(run)
            detail = "" if run.status == "ok" else f" at cell {run.failed_cell}: {run.error}"
            _log(
                f"[{done}/{len(names)}] {run.municipality}: {run.status} in {run.seconds:.1f} s{detail}"
            )
    order = {name: i for i, name in enumerate(names)}
    runs.sort(key=lambda r: order[r.municipality])
    _write_status(paths, runs)
    return runs


def _write_status(paths: StudyPaths, runs: list[NotebookRun]) -> None:
    status = {"study": paths.study_dir.name, "municipalities": [asdict(r) for r in runs]}
    target = paths.reports_dir / RUN_STATUS_FILE
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
    """Families, adjusted p-values and pools over the municipalities' results, without a kernel."""
    status = read_status(paths)
    data = load_processed(paths.processed_dir)
    results = run_study_step(
        data,
        paths.reports_dir,
        status,
        parameters={
            "processed_dir": paths.processed_dir.name,
            "reports_dir": paths.reports_dir.name,
        },
    )
    for problem in results.problems:
        _log(f"study level: {problem}")
    _log(
        f"study level: {len(results.effects)} effects, {len(results.pooled)} pools -> {paths.reports_dir}"
    )


def report(paths: StudyPaths, *, lang: str = "sv", kernel_name: str = KERNEL_NAME) -> NotebookRun:
    """Run the comparative report notebook over the municipalities' results."""
    if not (paths.reports_dir / RUN_STATUS_FILE).is_file():
        raise PipelineError(
            f"no evaluation results in {paths.reports_dir}: run the 'evaluate' step first"
        )
    parameters = report_parameters(paths, lang)
    check_parameters(COMPARATIVE_NOTEBOOK, parameters)
    study_step(paths)
    run = execute_notebook(
        "comparative report",
        COMPARATIVE_NOTEBOOK,
        paths.reports_dir,
        "comparative_report",
        parameters,
        kernel_name,
    )
    detail = "" if run.status == "ok" else f" at cell {run.failed_cell}: {run.error}"
    _log(f"comparative report: {run.status} in {run.seconds:.1f} s{detail} -> {run.html}")
    return run
