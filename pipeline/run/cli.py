"""Command line: ``trygga {validate,evaluate,study,report,final-report,tables,run,status,…}``.

The same as ``python -m pipeline …``.

The study scaffold and the importers (``new``, ``import-*``) come from
:mod:`pipeline.importers.cli`.

Exit codes: 0 success; 1 a municipality's computation or notebook, or the report, failed;
2 invalid input or parameters, a folder that cannot be written, or another run
of the same study in progress (nothing was written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import PipelineError, ValidationError
from ..importers.cli import add_commands, run_command, unfinished_study
from .paths import DEFAULT_STUDY, LANGUAGES, REPO_ROOT, StudyPaths, read_status, run_in_progress

# Kept here so that `--help` and `status` answer without importing the scientific stack.
DEMO_SEED = 20200401


def _parser() -> argparse.ArgumentParser:
    # Called as the console command `trygga` or as `python -m pipeline`: help names the one used.
    prog = "trygga" if Path(sys.argv[0]).name == "trygga" else "python -m pipeline"
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def study_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--study",
            default=str(DEFAULT_STUDY),
            help="study folder (default: the demo)",
        )
        p.add_argument("--processed-root", default=str(REPO_ROOT / "data" / "processed"))
        p.add_argument("--reports-root", default=str(REPO_ROOT / "reports"))
        p.add_argument(
            "--lang",
            choices=LANGUAGES,
            default="sv",
            help="report language; reports go to <reports-root>/<study>/<lang>/",
        )

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks run in parallel")
        p.add_argument(
            "--municipality", action="append", help="only this municipality (repeatable)"
        )
        p.add_argument(
            "--force",
            action="store_true",
            help="rerun every municipality, even those whose inputs, parameters and code are unchanged",
        )
        p.add_argument(
            "--keep-going",
            action="store_true",
            help="exit 0 when some municipalities failed (their failure is kept in run_status.json, "
            "which is dated 1970 so that make runs them again)",
        )

    p = sub.add_parser("validate", help="validate a study and write data/processed/<study>")
    study_args(p)
    p = sub.add_parser(
        "evaluate",
        help="compute each municipality's evaluation, the study level, then one notebook each",
    )
    study_args(p)
    run_args(p)
    p = sub.add_parser(
        "study",
        help="families, adjusted p-values and pools over the evaluated municipalities "
        "(run by 'evaluate' too)",
    )
    study_args(p)
    p = sub.add_parser("report", help="render the comparative report")
    study_args(p)
    p = sub.add_parser(
        "final-report", help="write the funder's final report (PDF and HTML) from the results"
    )
    study_args(p)
    p.add_argument("--no-pdf", action="store_true", help="write the HTML only")
    p = sub.add_parser(
        "tables", help="write implementation.csv and the results workbook (results.<lang>.xlsx)"
    )
    study_args(p)
    p = sub.add_parser("run", help="validate, evaluate and report")
    study_args(p)
    run_args(p)
    p = sub.add_parser("status", help="list the last run's municipalities; exit 1 if any failed")
    study_args(p)
    sub.add_parser("check-notebooks", help="fail if a committed notebook template carries outputs")
    p = sub.add_parser("demo", help="(re)generate the demo study")
    p.add_argument("--out", default=str(DEFAULT_STUDY))
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (code := run_command(args)) is not None:
        return code
    if args.command == "demo":
        from ..validation.demo import generate_demo

        folder = generate_demo(args.seed).write(Path(args.out))
        print(f"wrote the demo study to {folder}", file=sys.stderr)
        return 0
    try:
        paths = (
            StudyPaths.for_study(args.study, args.processed_root, args.reports_root, args.lang)
            if hasattr(args, "study")
            else None
        )
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.command == "status":
        return _status(paths)
    if args.command in ("validate", "run") and (code := unfinished_study(paths.study_dir)):
        return code
    if args.command in ("final-report", "tables"):
        return _final_report_or_tables(args, paths)
    from . import orchestrate

    if args.command == "check-notebooks":
        dirty = orchestrate.notebooks_with_outputs()
        for path in dirty:
            print(
                f"error: {path} carries outputs or execution counts; clear them before committing",
                file=sys.stderr,
            )
        return 1 if dirty else 0
    # A run starts the comparative report's kernel once the evaluations are computed, so that
    # its start overlaps the study level and the notebooks.
    warm: list = []
    try:
        if args.command in ("validate", "run"):
            orchestrate.prepare(paths)
        failed = []
        if args.command in ("evaluate", "run"):
            runs = orchestrate.evaluate(
                paths,
                lang=args.lang,
                jobs=args.jobs,
                municipalities=args.municipality,
                force=args.force,
                on_computed=(
                    (lambda: warm.append(orchestrate.warm_report_kernel()))
                    if args.command == "run"
                    else None
                ),
            )
            evaluation_failed = [r.municipality for r in runs if r.status != "ok"]
            if evaluation_failed and args.keep_going:
                orchestrate.mark_outdated(paths)
            elif evaluation_failed:
                failed += evaluation_failed
        if args.command == "study":
            orchestrate.study_step(paths)
        if args.command in ("report", "run"):
            run = orchestrate.report(paths, lang=args.lang, kernel=warm[0] if warm else None)
            if run.status != "ok":
                failed.append(run.municipality)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        # An unwritable or full output folder: name it, no traceback.
        where = f" {exc.filename}" if exc.filename else ""
        print(f"error: cannot write{where}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    finally:
        for kernel in warm:  # shut down already, unless the run stopped before its report
            kernel.shutdown()
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _final_report_or_tables(args: argparse.Namespace, paths: StudyPaths) -> int:
    from ..report.final_build import build_final_report, build_tables

    try:
        if args.command == "final-report":
            written = build_final_report(paths, args.lang, pdf=not args.no_pdf)
        else:
            written = build_tables(paths, args.lang)
    except PipelineError as exc:  # ValidationError included: bad texts or study.yml
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


def _status(paths: StudyPaths) -> int:
    try:
        runs = read_status(paths)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if run_in_progress(paths):
        print(f"a run of {paths.name} is in progress; this is the previous run", file=sys.stderr)
    for run in runs:
        if run["status"] == "ok":
            detail = ""
        elif run.get("stage") == "computation":
            detail = f" (computation: {run['error']})"
        else:
            detail = f" (cell {run.get('failed_cell')}: {run['error']})"
        reused = " (unchanged, not rerun)" if run.get("reused") else ""
        where = paths.reports_dir / (run["html"] or run["notebook"] or "")
        print(f"{run['municipality']}: {run['status']}{reused}{detail} -> {where}")
    return 1 if any(run["status"] != "ok" for run in runs) else 0
