"""How often the confirmatory family calls the demo's municipalities as their ground truth says.

The demo study (``validation/demo.py``) is regenerated from many seeds; for
each, only the estimates the confirmatory family needs are computed (each
municipality's primary outcome and the programme-level pool), the family is
adjusted exactly as the study-level step adjusts it (``evaluation/study.py``),
and each call is compared with the truth: a municipality whose targets' true
rate ratios differ from 1 should be called clear, in the right direction; one
without an effect should not.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..designs.panel import panel_effects
from ..evaluation.municipality import evaluate_target
from ..evaluation.study import assign_families, certainty, study_results
from ..inputs.prepare import StudyData, read_study
from ..results import effects_frame
from .demo import generate_demo
from .demo_places import PLACES


def confirmatory_effects(data: StudyData, indicator: str) -> pd.DataFrame:
    """Each municipality's primary estimate of ``indicator``, as its evaluation computes it."""
    effects = []
    for municipality in data.study.municipality_names:
        targets = data.study.targets(municipality)
        if len(targets) >= 2:
            effects.extend(panel_effects(data, indicator, targets))
        elif targets:
            found, _ = evaluate_target(data, targets[0], indicator)
            effects.extend(found)
    return effects_frame(effects)


def true_ratios(indicator: str = "crimes_total") -> dict[str, list[float]]:
    """The demo targets' true rate ratios, per municipality."""
    del indicator  # the demo gives every crime category of a place the same effect
    truth: dict[str, list[float]] = {}
    for place in PLACES:
        if place["role"] == "target":
            truth.setdefault(place["municipality"], []).append(float(place["effect"]))
    return truth


@dataclass(frozen=True)
class TruthCalls:
    """One row per seed and unit (municipality or programme): the call and whether it was right."""

    table: pd.DataFrame

    @property
    def rate(self) -> float:
        """Share of calls in line with the truth."""
        return float(self.table["right"].mean())

    def by_unit(self) -> pd.DataFrame:
        return (
            self.table.groupby("unit", sort=False)["right"].mean().rename("share_right").to_frame()
        )


def _calls(seed: int, indicator: str) -> list[dict]:
    demo = generate_demo(seed)
    with tempfile.TemporaryDirectory() as folder:
        for name, text in demo.files.items():
            (Path(folder) / name).write_text(text, encoding="utf-8")
        data = read_study(folder)
    effects = assign_families(confirmatory_effects(data, indicator), data.study)
    results = study_results(data, effects, data.study.municipality_names)
    truth = true_ratios(indicator)
    truth["programme"] = [r for ratios in truth.values() for r in ratios]
    rows = []
    confirmatory = results.effects[results.effects["family"] == "confirmatory"]
    pooled = results.pooled[
        (results.pooled["family"] == "confirmatory") & (results.pooled["indicator"] == indicator)
    ]
    units = [(r.municipality, r) for r in confirmatory.itertuples(index=False)]
    units += [("programme", r) for r in pooled.itertuples(index=False)]
    for unit, row in units:
        effective = any(abs(r - 1) > 1e-12 for r in truth[unit])
        clear = certainty(row.family, row.p_adjusted, results.alpha) == "clear"
        right = (clear and row.estimate < 1) if effective else not clear
        rows.append(
            {
                "seed": seed,
                "unit": unit,
                "true_effect": effective,
                "estimate": row.estimate,
                "p_value": row.p_value,
                "p_adjusted": row.p_adjusted,
                "clear": clear,
                "right": right,
            }
        )
    return rows


def demo_truth_calls(seeds, indicator: str = "crimes_total") -> TruthCalls:
    """The confirmatory family's calls over regenerated demos, against the ground truth."""
    rows = [row for seed in seeds for row in _calls(int(seed), indicator)]
    return TruthCalls(pd.DataFrame(rows))


def main(n_seeds: int = 50, first_seed: int = 1000) -> TruthCalls:
    rows = []
    for seed in range(first_seed, first_seed + n_seeds):
        rows.extend(_calls(seed, "crimes_total"))
        print(f"seed {seed}: {sum(r['right'] for r in rows[-5:])} of 5 right", flush=True)
    calls = TruthCalls(pd.DataFrame(rows))
    print(calls.by_unit().to_string())
    print(f"calls in line with the truth: {calls.rate:.1%} over {n_seeds} demos")
    return calls
