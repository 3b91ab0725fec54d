"""Time the pipeline on a study against the plain alternative, in the same run.

Plain alternative: the papermill and ``jupyter nbconvert`` command lines, one
municipality after another (each notebook computing its evaluation in its kernel), the
study-level step (``python -m pipeline study``), then the comparative report the same way.
The pipeline: ``python -m pipeline run`` (validation, the evaluations computed in worker
processes, the study-level step, the notebooks displaying the stored results with HTML
rendered in the workers, then the report, in one process). Both start from the same
validated study and produce the same notebooks and HTML.

Then, on the pipeline's results: a rerun after one row of one municipality's series
changed (only the parts of that municipality's evaluation that read the changed row are
computed again; the study level follows and the notebooks whose adjusted p-values moved run
again, then the report), and a second ``make report`` with nothing changed. Prints, for every
line, the wall-clock seconds, the CPU seconds of the processes it ran and the load average as it
ended (the machine may be shared: the CPU seconds are the work done, which load does not
inflate as much as the wall clock), then the three ratios.

Usage: python benchmarks/bench_pipeline.py [--study DIR] [--jobs N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
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


def _cpu_seconds() -> float:
    """CPU time of every finished child process (the workers and kernels included): the work
    done, which a busy shared machine does not inflate as it does the wall-clock time."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run(command: list[str]) -> None:
    subprocess.run(
        command, cwd=REPO, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _papermill_and_html(notebook: Path, executed: Path, parameters: dict[str, str]) -> None:
    """Execute a notebook with the papermill command line, then render it with nbconvert."""
    _run(
        [
            str(BIN / "papermill"),
            str(notebook),
            str(executed),
            "-k",
            orchestrate.KERNEL_NAME,
            "--cwd",
            str(REPO),
            "--no-progress-bar",
            *[arg for key, value in parameters.items() for arg in ("-p", key, value)],
        ]
    )
    _run([str(BIN / "jupyter"), "nbconvert", "--to", "html", "--no-input", str(executed)])


def plain(paths: StudyPaths, municipalities: list[str], lang: str) -> float:
    started = time.perf_counter()
    for name in municipalities:
        out = paths.municipality_dir(name)
        out.mkdir(parents=True, exist_ok=True)
        _papermill_and_html(
            orchestrate.MUNICIPALITY_NOTEBOOK,
            out / "evaluation.ipynb",
            orchestrate.municipality_parameters(paths, name, lang),
        )
    # The study-level step and the comparative notebook read the run status that the
    # orchestrator would write.
    status = [
        {
            "municipality": m,
            "status": "ok",
            "notebook": f"{paths.municipality_dir(m).name}/evaluation.ipynb",
            "html": f"{paths.municipality_dir(m).name}/evaluation.html",
            "seconds": 0,
            "failed_cell": None,
            "error": None,
        }
        for m in municipalities
    ]
    (paths.reports_dir / "run_status.json").write_text(json.dumps({"municipalities": status}))
    _run([sys.executable, "-m", "pipeline", "study", *_study_arguments(paths, lang)])
    _papermill_and_html(
        orchestrate.COMPARATIVE_NOTEBOOK,
        paths.reports_dir / "comparative_report.ipynb",
        orchestrate.report_parameters(paths, lang),
    )
    return time.perf_counter() - started


def _study_arguments(paths: StudyPaths, lang: str, study: Path | None = None) -> list[str]:
    return [
        "--study",
        str(study or paths.study_dir),
        "--processed-root",
        str(paths.processed_dir.parent),
        "--reports-root",
        str(paths.reports_dir.parents[1]),
        "--lang",
        lang,
    ]


def pipeline(paths: StudyPaths, jobs: int, lang: str, study: Path | None = None) -> float:
    common = _study_arguments(paths, lang, study)
    started = time.perf_counter()
    _run([sys.executable, "-m", "pipeline", "run", *common, "--jobs", str(jobs)])
    return time.perf_counter() - started


def one_row_changed(study: Path, into: Path) -> tuple[Path, str]:
    """A copy of the study (same name) with one row of its first municipality's series changed."""
    import pandas as pd

    copy = into / study.name
    shutil.copytree(study, copy)
    data = load_processed_or_read(study)
    municipality = data.study.municipality_names[0]
    places = {p.id for p in data.study.places if p.municipality == municipality}
    series = pd.read_csv(copy / "series.csv", dtype=str, sep=None, engine="python")
    row = series.index[series["place_id"].isin(places)][0]
    series.loc[row, "value"] = str(int(float(series.loc[row, "value"])) + 1)
    series.to_csv(copy / "series.csv", index=False)
    return copy, municipality


def load_processed_or_read(study: Path):
    from pipeline.inputs.prepare import read_study

    return read_study(study)


def noop_make(study: str) -> tuple[float, float]:
    """Seconds and CPU seconds of a second ``make report`` on the same study (the first one
    builds it)."""
    command = ["make", "-s", "report", f"STUDY={study}"]
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    cpu = _cpu_seconds()
    started = time.perf_counter()
    subprocess.run(command, cwd=REPO, check=True, capture_output=True)
    return time.perf_counter() - started, _cpu_seconds() - cpu


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


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
                cpu = _cpu_seconds()
                seconds = (
                    plain(paths, municipalities, args.lang)
                    if method == "plain"
                    else pipeline(paths, args.jobs, args.lang)
                )
                cpu = _cpu_seconds() - cpu
                timings[method].append(seconds)
                timings.setdefault(f"{method}_cpu", []).append(cpu)
                timings.setdefault(f"{method}_load", []).append(os.getloadavg()[0])
                print(
                    f"round {round_ + 1}: {method:<8} {seconds:6.1f} s ({cpu:.1f} s of CPU), "
                    f"load {_load()}",
                    flush=True,
                )
                if method == "pipeline":
                    edited, changed = one_row_changed(
                        paths.study_dir, Path(tmp) / f"edited{round_}"
                    )
                    cpu = _cpu_seconds()
                    seconds = pipeline(paths, args.jobs, args.lang, study=edited)
                    cpu = _cpu_seconds() - cpu
                    timings.setdefault("one_changed", []).append(seconds)
                    timings.setdefault("one_changed_cpu", []).append(cpu)
                    timings.setdefault("one_changed_load", []).append(os.getloadavg()[0])
                    print(
                        f"round {round_ + 1}: one row of {changed} changed {seconds:6.1f} s "
                        f"({cpu:.1f} s of CPU), load {_load()}",
                        flush=True,
                    )
                # Every round starts from nothing: the plain loop's notebooks store the
                # evaluations they compute, which a second round would otherwise reuse.
                shutil.rmtree(paths.processed_dir.parent.parent)

    plain_s = statistics.median(timings["plain"])
    ours_s = statistics.median(timings["pipeline"])
    one_s = statistics.median(timings["one_changed"])
    noop_s, noop_cpu = noop_make(args.study)
    median = {k: statistics.median(v) for k, v in timings.items()}
    print()
    print(
        f"study: {Path(args.study).name}, {len(municipalities)} municipalities, jobs={args.jobs}, "
        f"cores={os.cpu_count()}, repeats={args.repeat}"
    )
    print(f"{'method':<50} {'median s':>9} {'CPU s':>7} {'load 1 min':>10}")
    rows = (
        ("plain: papermill + nbconvert CLIs, one by one", "plain"),
        ("pipeline: python -m pipeline run", "pipeline"),
        ("pipeline after one municipality changed", "one_changed"),
    )
    for label, key in rows:
        print(
            f"{label:<50} {median[key]:9.1f} {median[key + '_cpu']:7.1f} {median[key + '_load']:10.1f}"
        )
    print(
        f"{'make report with nothing changed':<50} {noop_s:9.2f} {noop_cpu:7.2f} "
        f"{os.getloadavg()[0]:10.1f}"
    )
    print(f"full run / plain loop:          {ours_s / plain_s:.2f} (target <= 0.35)")
    print(f"one municipality changed / full: {one_s / ours_s:.2f} (target <= 0.40)")
    print(f"no-op make report:               {noop_s:.2f} s (target <= 1 s)")
    print(f"load average (1, 5, 15 min):     {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
