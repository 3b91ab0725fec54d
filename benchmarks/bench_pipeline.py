"""Time the pipeline on a study against the plain alternative, in the same run.

Plain alternative: the papermill and ``jupyter nbconvert`` command lines, one
municipality after another, then the comparative report the same way. The
pipeline: ``python -m pipeline run`` (validation, parallel notebooks with HTML
rendered in the workers, then the report, in one process). Both start from the same
validated study and produce the same notebooks and HTML. Prints both times and
their ratio.

Usage: python benchmarks/bench_pipeline.py [--study DIR] [--jobs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.inputs.prepare import load_processed, prepare_study  # noqa: E402
from pipeline.run import orchestrate  # noqa: E402
from pipeline.run.paths import DEFAULT_STUDY, StudyPaths  # noqa: E402

BIN = Path(sys.executable).parent


def _run(command: list[str]) -> None:
    subprocess.run(
        command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def plain(paths: StudyPaths, municipalities: list[str], lang: str) -> float:
    started = time.perf_counter()
    for name in municipalities:
        out = paths.municipality_dir(name)
        out.mkdir(parents=True, exist_ok=True)
        parameters = orchestrate.municipality_parameters(paths, name, lang)
        _run(
            [
                str(BIN / "papermill"),
                str(orchestrate.MUNICIPALITY_NOTEBOOK),
                str(out / "evaluation.ipynb"),
                "-k",
                orchestrate.KERNEL_NAME,
                "--cwd",
                str(REPO),
                "--no-progress-bar",
                *[arg for key, value in parameters.items() for arg in ("-p", key, value)],
            ]
        )
        _run(
            [
                str(BIN / "jupyter"),
                "nbconvert",
                "--to",
                "html",
                "--no-input",
                str(out / "evaluation.ipynb"),
            ]
        )
    # The comparative notebook reads the run status that the orchestrator would write.
    status = [
        {
            "municipality": m,
            "status": "ok",
            "notebook": "",
            "html": "",
            "seconds": 0,
            "failed_cell": None,
            "error": None,
        }
        for m in municipalities
    ]
    (paths.reports_dir / "run_status.json").write_text(json.dumps({"municipalities": status}))
    parameters = orchestrate.report_parameters(paths, lang)
    _run(
        [
            str(BIN / "papermill"),
            str(orchestrate.COMPARATIVE_NOTEBOOK),
            str(paths.reports_dir / "comparative_report.ipynb"),
            "-k",
            orchestrate.KERNEL_NAME,
            "--cwd",
            str(REPO),
            "--no-progress-bar",
            *[arg for key, value in parameters.items() for arg in ("-p", key, value)],
        ]
    )
    _run(
        [
            str(BIN / "jupyter"),
            "nbconvert",
            "--to",
            "html",
            "--no-input",
            str(paths.reports_dir / "comparative_report.ipynb"),
        ]
    )
    return time.perf_counter() - started


def pipeline(paths: StudyPaths, jobs: int, lang: str) -> float:
    common = [
        "--study",
        str(paths.study_dir),
        "--processed-root",
        str(paths.processed_dir.parent),
        "--reports-root",
        str(paths.reports_dir.parents[1]),
        "--lang",
        lang,
    ]
    started = time.perf_counter()
    _run([sys.executable, "-m", "pipeline", "run", *common, "--jobs", str(jobs)])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", default=str(DEFAULT_STUDY))
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--lang", default="sv")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        timings: dict[str, list[float]] = {"plain": [], "pipeline": []}
        for round_ in range(args.repeat):
            for method in ("plain", "pipeline") if round_ % 2 == 0 else ("pipeline", "plain"):
                paths = StudyPaths.for_study(
                    args.study,
                    Path(tmp) / method / "processed",
                    Path(tmp) / method / "reports",
                    args.lang,
                )
                prepare_study(paths.study_dir, paths.processed_dir)
                municipalities = load_processed(paths.processed_dir).study.municipality_names
                seconds = (
                    plain(paths, municipalities, args.lang)
                    if method == "plain"
                    else pipeline(paths, args.jobs, args.lang)
                )
                timings[method].append(seconds)
                print(f"round {round_ + 1}: {method:<8} {seconds:6.1f} s", flush=True)

    plain_s = statistics.median(timings["plain"])
    ours_s = statistics.median(timings["pipeline"])
    print()
    print(
        f"study: {Path(args.study).name}, {len(municipalities)} municipalities, jobs={args.jobs}, "
        f"cores={os.cpu_count()}, repeats={args.repeat}"
    )
    print(f"{'method':<42} {'median s':>9}")
    print(f"{'plain: papermill + nbconvert CLIs, one by one':<42} {plain_s:9.1f}")
    print(f"{'pipeline: python -m pipeline run':<42} {ours_s:9.1f}")
    print(f"ratio pipeline/plain: {ours_s / plain_s:.2f} (target <= 0.50)")


if __name__ == "__main__":
    main()
