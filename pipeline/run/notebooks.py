"""Notebooks run by papermill and rendered to report pages: the kernel, parameters checked
against the notebook, execution in a scratch folder, and the HTML with the report's own page
template. Errors in a notebook are returned as a :class:`NotebookRun`, not raised, so one
failing municipality never stops the others.
"""

from __future__ import annotations

import functools
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
import papermill
from nbconvert import HTMLExporter
from papermill.exceptions import PapermillExecutionError

from ..errors import ParameterError
from ..report.i18n import check_language
from .paths import REPO_ROOT
from .provenance import portable_path

TEMPLATE_DIR = Path(__file__).parents[1] / "report" / "templates"
PAGE_TEMPLATE = "page"
KERNEL_NAME = "trygga-platser"
EXECUTION_TIMEOUT = 900  # seconds per cell; a hung kernel must not hang CI
# The kernel's start-up chatter (transport warnings) is noise in a batch log; cell errors
# still reach the executed notebook and the run status.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=ERROR"]


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class NotebookRun:
    """How one notebook run ended."""

    municipality: str
    status: str  # "ok" or "failed"
    notebook: str | None  # None when the computation failed before the notebook
    html: str | None
    seconds: float
    failed_cell: int | None = None
    error: str | None = None
    reused: bool = False  # nothing it displays changed: the last results stand
    computed: bool = False  # its evaluation was computed in this run (else the stored one)
    stage: str | None = None  # where it failed: "computation" or "notebook"


def ensure_kernel(name: str = KERNEL_NAME) -> str:
    """The Jupyter kernel of this environment, registered in it if missing.

    `make env` registers it; an environment made another way (conda, a plain pip install)
    gets it on its first run, inside its own prefix, so that the notebooks run with the
    interpreter and packages of the environment that runs the pipeline.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(name)
    except NoSuchKernel:
        spec = None
    if spec is None or not _same_interpreter(spec.argv[0]):
        from ipykernel.kernelspec import install

        install(kernel_name=name, display_name=f"Python ({name})", prefix=sys.prefix)
        _log(f"registered the Jupyter kernel '{name}' for {sys.executable}")
    return name


def _same_interpreter(command: str) -> bool:
    try:
        return Path(command).resolve() == Path(sys.executable).resolve()
    except OSError:
        return False


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


class WarmKernel:
    """A kernel started ahead of its notebook, with the notebook's imports already run in it.

    The imports run silently (no output, no execution count), so the notebook papermill then
    executes in this kernel, every cell of it, is the same as in a fresh one; only the start
    and the imports are done while the run does something else.
    """

    def __init__(self, kernel_name: str, imports: str):
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name=kernel_name)
        self.manager.start_kernel(cwd=str(REPO_ROOT), extra_arguments=KERNEL_ARGUMENTS)
        self._client = self.manager.client()
        self._client.start_channels()
        self._request = self._client.execute(imports, silent=True, store_history=False)

    def take(self, timeout: float = EXECUTION_TIMEOUT):
        """The kernel's manager for papermill once the imports are done, or None when the
        kernel died or the imports failed (the notebook then gets a new kernel)."""
        import queue

        deadline = time.monotonic() + timeout
        reply = None
        try:
            while reply is None and time.monotonic() < deadline and self.manager.is_alive():
                try:
                    message = self._client.get_shell_msg(timeout=1)
                except queue.Empty:
                    continue
                if message["parent_header"].get("msg_id") == self._request:
                    reply = message
        finally:
            self._client.stop_channels()
        if reply is None or reply["content"].get("status") != "ok" or not self.manager.is_alive():
            self.shutdown()
            return None
        return self.manager

    def shutdown(self) -> None:
        self._client.stop_channels()
        if self.manager.has_kernel:
            self.manager.shutdown_kernel(now=True)


@functools.cache
def _page_exporter() -> HTMLExporter:
    """One exporter for every page a process renders (its templates are loaded once)."""
    return HTMLExporter(
        template_name=PAGE_TEMPLATE,
        extra_template_basedirs=[str(TEMPLATE_DIR)],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        exclude_markdown=True,
        embed_images=True,
    )


#: What papermill and the kernel stamp on an executed notebook that differs from run to run.
_TIMINGS = ("start_time", "end_time", "duration")


def make_portable(notebook_path: Path, parameters: dict, published: Path) -> None:
    """Rewrite an executed notebook so that it names folders as :func:`portable_path` does
    and carries no clock times: the same inputs give the same notebook on any machine.

    ``published`` is where the notebook is moved once complete; it is recorded as its
    output path rather than the scratch folder it was executed in.
    """
    notebook = nbformat.read(notebook_path, as_version=4)
    paths = {
        str(v): portable_path(v)
        for v in parameters.values()
        if isinstance(v, str | Path) and Path(v).is_absolute()
    }

    def portable(text: str) -> str:
        # Longest first, so a folder inside another parameter's folder is replaced whole.
        for path, shown in sorted(paths.items(), key=lambda item: -len(item[0])):
            text = text.replace(path, shown)
        return text

    record = notebook.metadata.get("papermill", {})
    for key in _TIMINGS:
        record.pop(key, None)
    if record.get("input_path"):
        record["input_path"] = portable_path(record["input_path"])
    if "output_path" in record:
        record["output_path"] = portable_path(published)
    if "parameters" in record:
        record["parameters"] = {
            k: portable(v) if isinstance(v, str) else v for k, v in record["parameters"].items()
        }
    for cell in notebook.cells:
        cell.metadata.pop("execution", None)
        for key in _TIMINGS:
            cell.metadata.get("papermill", {}).pop(key, None)
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.source = portable(cell.source)
    nbformat.write(notebook, notebook_path)


def render_html(notebook_path: Path, html_path: Path, *, title: str, lang: str) -> Path:
    """Render an executed notebook to a report page: its outputs only, with ``title`` and
    ``lang`` on the page, the project's one stylesheet and no script."""
    body, _ = _page_exporter().from_notebook_node(
        nbformat.read(notebook_path, as_version=4),
        resources={"report_title": title, "report_lang": check_language(lang)},
    )
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
    *,
    title: str,
    kernel: WarmKernel | None = None,
) -> NotebookRun:
    """Execute one notebook with papermill and render it; notebook errors are returned, not raised.

    The notebook and its HTML are written in a hidden folder inside
    ``output_dir`` and moved into place when both are complete. With ``kernel``, papermill
    executes the notebook in that started kernel (shut down afterwards) instead of a new one.
    """
    output_dir.mkdir(parents=True, exist_ok=True)
    for leftover in output_dir.glob(f".{stem}-*"):  # of a run that was killed (runs hold the lock)
        shutil.rmtree(leftover, ignore_errors=True)
    work = Path(tempfile.mkdtemp(prefix=f".{stem}-", dir=output_dir))
    try:
        manager = kernel.take() if kernel is not None else None
        return _execute_in(
            label, template, work, output_dir, stem, parameters, kernel_name, title, manager
        )
    finally:
        if kernel is not None:
            kernel.shutdown()
        shutil.rmtree(work, ignore_errors=True)


def _execute_in(
    label: str,
    template: Path,
    work: Path,
    output_dir: Path,
    stem: str,
    parameters: dict,
    kernel_name: str,
    title: str,
    manager=None,
) -> NotebookRun:
    ipynb = work / f"{stem}.ipynb"
    html = work / f"{stem}.html"
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
            extra_arguments=KERNEL_ARGUMENTS,
            km=manager,
        )
    except PapermillExecutionError as exc:
        failed_cell, error = exc.exec_count, f"{exc.ename}: {exc.evalue}"
    except (
        Exception
    ) as exc:  # a kernel that dies or cannot start: report it as this notebook's failure
        error = f"{type(exc).__name__}: {exc}"
    rendered = None
    if ipynb.is_file():
        make_portable(ipynb, parameters, output_dir / ipynb.name)
        render_html(ipynb, html, title=title, lang=parameters["lang"])
        html.replace(output_dir / html.name)
        rendered = str(output_dir / html.name)
    if ipynb.is_file():
        ipynb.replace(output_dir / ipynb.name)
    return NotebookRun(
        municipality=label,
        status="ok" if error is None else "failed",
        notebook=str(output_dir / ipynb.name),
        html=rendered,
        seconds=round(time.perf_counter() - started, 2),
        failed_cell=failed_cell,
        error=error,
        stage=None if error is None else "notebook",
    )
