"""Error rates of the survey estimates made from reported shares, by simulation with a known truth.

Draws :func:`~pipeline.validation.synthetic_survey.clustered_survey` microdata
with unequal weights (so a design effect above 1), area-by-wave shocks and
repeated respondents, reduces each survey to the shares a report gives
(:func:`~pipeline.inputs.survey_shares.shares_from_microdata`: share,
respondents, design effect, weighted base) and measures how often each
inference on the shares covers the truth:

* the area-level difference-in-differences in percentage points
  (:func:`~pipeline.methods.survey_areas.shares_difference_in_differences`);
* the target areas' before/after change
  (:func:`~pipeline.methods.survey_areas.shares_change`), with the design
  effect as reported and with it left blank (weights taken as equal). Its
  truth is known when nothing changes (no period change, no effect, no
  shocks), so it is measured there.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..errors import EstimationError
from ..inputs.survey_shares import shares_from_microdata
from ..methods.survey_areas import shares_change, shares_difference_in_differences
from .synthetic_survey import clustered_survey

BEFORE, AFTER = "2019-10-01", "2022-10-01"


def _seed(*keys: int) -> int:
    return int(np.random.SeedSequence(list(keys)).generate_state(1)[0])


def shares_inference_study(
    *,
    reps: int = 400,
    seed: int = 2026,
    arms: Sequence[tuple[int, int]] = ((2, 2), (3, 3)),
    shock_sds: Sequence[float] = (0.0, 0.3),
    effect: float = -0.4,
    weight_sigma: float = 0.6,
    level: float = 0.95,
) -> pd.DataFrame:
    """Coverage and rejection rate of the inferences made from reported shares.

    Parameters
    ----------
    reps : int
        Simulated surveys per scenario.
    seed : int
        Each scenario and replicate draws from a seed derived from ``(seed, scenario, rep)``.
    arms : sequence of (int, int)
        Target and comparison areas of the difference-in-differences scenarios.
    shock_sds : sequence of float
        Area-by-wave shock standard deviations (logit scale).
    effect : float
        The true effect of the difference-in-differences scenarios (latent logistic scale).
    weight_sigma : float
        Spread of the log-normal weights; 0.6 gives design effects near 1.4.
    level : float

    Returns
    -------
    pandas.DataFrame
        One row per scenario and inference: ``scenario``, ``inference``,
        ``reps``, ``coverage`` of the truth, ``rejection_rate`` (of the null;
        power when the truth is not 0), ``mean_estimate``, ``truth`` and
        ``mean_design_effect`` of the reported cells.
    """
    rows = []
    scenarios = [(a, s) for a in arms for s in shock_sds]
    for index, ((n_t, n_c), shock) in enumerate(scenarios):
        hits, deffs = [], []
        for rep in range(reps):
            micro, truth = clustered_survey(
                seed=_seed(seed, index, rep),
                n_target=n_t,
                n_comparison=n_c,
                effect=effect,
                shock_sd=shock,
                weight_sigma=weight_sigma,
            )
            shares = shares_from_microdata(micro)
            deffs.append(shares["design_effect"].mean())
            try:
                did = shares_difference_in_differences(
                    shares,
                    treated=[f"t{i}" for i in range(n_t)],
                    comparison=[f"c{i}" for i in range(n_c)],
                    before=BEFORE,
                    after=AFTER,
                    level=level,
                )
            except EstimationError:
                continue
            hits.append((*did.values("share_difference_pp"), truth["share_difference_pp"]))
        rows.append(
            _rates(f"{n_t}+{n_c} areas, shock sd {shock}", "difference-in-differences, pp", hits)
            | {"mean_design_effect": float(np.mean(deffs))}
        )
    # Before/after in the target areas: its truth is 0 only when nothing changes at all.
    for blank_deff in (False, True):
        hits, deffs = [], []
        for rep in range(reps):
            micro, _ = clustered_survey(
                seed=_seed(seed, len(scenarios), rep),
                n_target=2,
                n_comparison=1,
                effect=0.0,
                shock_sd=0.0,
                period_effect=0.0,
                repeat_share=0.0,
                weight_sigma=weight_sigma,
            )
            shares = shares_from_microdata(micro)
            deffs.append(shares["design_effect"].mean())
            if blank_deff:
                shares = shares.assign(design_effect=np.nan)
            change, _ = shares_change(
                shares, areas=["t0", "t1"], before=BEFORE, after=AFTER, level=level
            )
            row = change.table.iloc[0]
            hits.append(
                (row["diff_pp"], row["diff_low_pp"], row["diff_high_pp"], row["p_value"], 0.0)
            )
        name = "design effect left blank" if blank_deff else "design effect reported"
        rows.append(
            _rates("2 target areas, nothing changes", f"before/after, pp ({name})", hits)
            | {"mean_design_effect": float(np.mean(deffs))}
        )
    return pd.DataFrame(rows)


def _rates(scenario: str, inference: str, hits: list) -> dict:
    est, low, high, p, true = np.array(hits, dtype=float).T
    return {
        "scenario": scenario,
        "inference": inference,
        "reps": len(est),
        "coverage": float(np.mean((low <= true) & (true <= high))),
        "rejection_rate": float(np.mean(p < 0.05)),
        "mean_estimate": float(np.mean(est)),
        "truth": float(np.mean(true)),
    }
