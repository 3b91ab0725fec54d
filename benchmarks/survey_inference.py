"""Survey difference-in-differences: false positives, coverage and power by simulation.

Run with ``python benchmarks/survey_inference.py [reps]`` (``make calibrate`` runs it);
prints one row per scenario and inference, the figures the README's survey table quotes,
then the proportional-odds model's false positives under the null (fewer replicates:
its fit is slower). ``python benchmarks/survey_inference.py 250 60`` gives the README's figures.
"""

from __future__ import annotations

import sys
import time

from pipeline.validation.survey_simulation import survey_inference_study


def _show(table) -> None:
    print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


def main(reps: int = 250, ordinal_reps: int = 60) -> None:
    start = time.perf_counter()
    _show(survey_inference_study(reps=reps))
    ordinal = survey_inference_study(
        reps=ordinal_reps,
        arms=((2, 2), (3, 3)),
        effects=(0.0,),
        respondent_level=False,
        ordinal=True,
    )
    _show(ordinal[ordinal["inference"].str.contains("ordinal")])
    print(f"{reps} ({ordinal_reps}) surveys per scenario, {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
