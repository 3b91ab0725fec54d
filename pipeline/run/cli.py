"""Command line: ``python -m pipeline {validate,evaluate,study,report,run,status,demo,check-notebooks}``.

Exit codes: 0 success; 1 a municipality's notebook or the report failed;
2 invalid input or parameters (nothing was written).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from ..errors import PipelineError, ValidationError
from .paths import DEFAULT_STUDY, REPO_ROOT, StudyPaths, read_status

# Kept here so that `--help` and `status` answer without importing the scientific stack.
LANGUAGES = ("sv", "en")
DEMO_SEED = 20200401


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def study_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--study",
            default=str(DEFAULT_STUDY),
            help="study folder (default: the demo)",
        )
        p.add_argument("--processed-root", default=str(REPO_ROOT / "data" / "processed"))
        p.add_argument("--reports-root", default=str(REPO_ROOT / "reports"))

    def run_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--lang", choices=LANGUAGES, default="sv", help="report language")
        p.add_argument("--jobs", type=int, default=os.cpu_count(), help="notebooks run in parallel")
        p.add_argument(
            "--municipality", action="append", help="only this municipality (repeatable)"
        )
        p.add_argument(
            "--keep-going",
            action="store_true",
            help="exit 0 when some municipalities failed (their failure is kept in run_status.json, "
            "which is dated 1970 so that make runs them again)",
        )

    p = sub.add_parser("validate", help="validate a study and write data/processed/<study>")
    study_args(p)
    p = sub.add_parser("evaluate", help="run one evaluation notebook per municipality")
    study_args(p)
    run_args(p)
    p = sub.add_parser(
        "study",
        help="families, adjusted p-values and pools over the evaluated municipalities "
        "(run by 'report' too)",
    )
    study_args(p)
    p = sub.add_parser("report", help="render the comparative report")
    study_args(p)
    p.add_argument("--lang", choices=LANGUAGES, default="sv")
    p = sub.add_parser("run", help="validate, evaluate and report")
    study_args(p)
    run_args(p)
    p = sub.add_parser("status", help="list the last run's municipalities; exit 1 if any failed")
    study_args(p)
    sub.add_parser("check-notebooks", help="fail if a committed notebook template carries outputs")
    p = sub.add_parser("demo", help="(re)generate the demo study")
    p.add_argument("--out", default=str(DEFAULT_STUDY))
    p.add_argument("--seed", type=int, default=DEMO_SEED)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "demo":
        from ..validation.demo import generate_demo

        folder = generate_demo(args.seed).write(Path(args.out))
        print(f"wrote the demo study to {folder}", file=sys.stderr)
        return 0
    paths = (
        StudyPaths.for_study(args.study, args.processed_root, args.reports_root)
        if hasattr(args, "study")
        else None
    )
    if args.command == "status":
        return _status(paths)
    from . import orchestrate

    if args.command == "check-notebooks":
        dirty = orchestrate.notebooks_with_outputs()
        for path in dirty:
            print(
                f"error: {path} carries outputs or execution counts; clear them before committing",
                file=sys.stderr,
            )
        return 1 if dirty else 0
    try:
        if args.command in ("validate", "run"):
            orchestrate.prepare(paths)
        failed = []
        if args.command in ("evaluate", "run"):
            runs = orchestrate.evaluate(
                paths, lang=args.lang, jobs=args.jobs, municipalities=args.municipality
            )
            evaluation_failed = [r.municipality for r in runs if r.status != "ok"]
            if evaluation_failed and args.command == "evaluate" and args.keep_going:
                orchestrate.mark_outdated(paths)
            elif evaluation_failed:
                failed += evaluation_failed
        if args.command == "study":
            orchestrate.study_step(paths)
        if args.command in ("report", "run"):
            run = orchestrate.report(paths, lang=args.lang)
            if run.status != "ok":
                failed.append(run.municipality)
    except ValidationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _status(paths: StudyPaths) -> int:
    try:
        runs = read_status(paths)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for run in runs:
        detail = "" if run["status"] == "ok" else f" (cell {run['failed_cell']}: {run['error']})"
        print(f"{run['municipality']}: {run['status']}{detail} -> {run['html'] or run['notebook']}")
    return 1 if any(run["status"] != "ok" for run in runs) else 0
