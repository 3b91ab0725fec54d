"""Survey difference-in-differences: false positives, coverage and power by simulation.

Run with ``python benchmarks/survey_inference.py [reps]`` (``make calibrate`` runs it);
prints one row per scenario and inference, the figures the README's survey table quotes.
"""

from __future__ import annotations

import sys
import time

from pipeline.validation.survey_simulation import survey_inference_study


def main(reps: int = 400) -> None:
    start = time.perf_counter()
    table = survey_inference_study(reps=reps)
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(f"{reps} surveys per scenario, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)
