"""Pooling places that share a donor pool: error rate, standard error against the spread, coverage.

Simulates a programme: several municipalities with a few targets each,
staggered starts, and one pool of never-treated comparison areas that every
target shares. Every area carries a monthly shock common to the study, a shock
common to its municipality (one town, one police district), its own slow drift
and overdispersed counts. The programme's effect is ``effect`` (1: the null);
with ``municipality_effect_sd`` each municipality's targets share their own
effect, log-normal around it, so the programme estimate must carry the
variance between municipalities to cover ``effect``. Each replicate is pooled
three ways:

- the study-level step's confirmatory pool: the panel of every target against
  the shared pool (``designs/panel.py``), which sees the shared comparison, for
  the effect at these places;
- the same panel nested in municipalities (the variance between municipalities
  added), for the effect in municipalities like these;
- for contrast, a random-effects meta-analysis of the targets' own estimates
  as if they were independent (what a flat pooling of ``effects.csv`` does).

The measured figures belong in benchmark output and the README, not here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..designs.panel import fit_panel
from ..methods.meta_analysis import meta_analyse

PERIODS = pd.period_range("2016-01", periods=84, freq="M")
_DAYS = PERIODS.days_in_month.to_numpy().astype(float)
_SEASON = 0.15 * np.cos(2 * np.pi * (PERIODS.month.to_numpy() - 7) / 12)


def _ar1(rng: np.random.Generator, sd: float, n: int) -> np.ndarray:
    shock = np.zeros(n)
    shock[0] = rng.normal(0, sd / np.sqrt(0.75))
    for t in range(1, n):
        shock[t] = 0.5 * shock[t - 1] + rng.normal(0, sd)
    return shock


def shared_donor_study(
    rng: np.random.Generator,
    *,
    municipalities: int = 3,
    targets_each: int = 2,
    n_controls: int = 20,
    effect: float = 1.0,
    municipality_effect_sd: float = 0.0,
    study_shock_sd: float = 0.07,
    town_shock_sd: float = 0.04,
    drift_sd: float = 0.01,
    shape: float = 12.0,
):
    """One simulated programme: targets nested in municipalities, one shared comparison pool.

    Returns
    -------
    targets, starts, controls, municipality_of
        As :func:`~pipeline.designs.panel.fit_panel` takes them, and target id
        -> municipality.
    """
    m = len(PERIODS)
    study = _ar1(rng, study_shock_sd, m)
    towns = [_ar1(rng, town_shock_sd, m) for _ in range(municipalities)]

    effects = effect * np.exp(rng.normal(0, municipality_effect_sd, municipalities))

    def draw(level: float, town: np.ndarray, start: int = m, effect: float = 1.0) -> pd.DataFrame:
        walk = np.cumsum(rng.normal(0, drift_sd, m))
        mu = level * np.exp(_SEASON + study + town + walk - walk.mean()) * _DAYS / 30.44
        mu = mu * np.where(np.arange(m) >= start, effect, 1.0)
        counts = rng.poisson(mu * rng.gamma(shape, 1 / shape, m))
        return pd.DataFrame({"value": counts.astype(float), "exposure": _DAYS}, index=PERIODS)

    targets, starts, municipality_of = {}, {}, {}
    for k in range(municipalities):
        for j in range(targets_each):
            name = f"m{k}_t{j}"
            start = int(rng.integers(40, 60))
            level = float(rng.choice([8.0, 12.0, 16.0]))
            targets[name] = draw(level, towns[k], start, float(effects[k]))
            starts[name] = PERIODS[start]
            municipality_of[name] = f"m{k}"
    controls = {
        f"c{j}": draw(float(rng.choice([6.0, 8.0, 10.0, 12.0, 15.0])), towns[j % municipalities])
        for j in range(n_controls)
    }
    return targets, starts, controls, municipality_of


@dataclass(frozen=True)
class PoolingCheck:
    """Per replicate: the pooled log ratio, its standard error, p-value and coverage, for the
    panel at these places, the panel nested in municipalities and the flat meta-analysis."""

    table: pd.DataFrame

    def summary(self, alpha: float = 0.05) -> pd.DataFrame:
        rows = []
        for way in ("panel", "panel_nested", "flat_meta"):
            estimate = self.table[f"{way}_log_ratio"]
            rows.append(
                {
                    "pool": way,
                    "replicates": len(self.table),
                    "false_positive_rate": float((self.table[f"{way}_p"] < alpha).mean()),
                    "mean_se": float(self.table[f"{way}_se"].mean()),
                    "empirical_sd": float(estimate.std(ddof=1)),
                    "se_over_sd": float(self.table[f"{way}_se"].mean() / estimate.std(ddof=1)),
                    "coverage": float(self.table[f"{way}_covers"].mean()),
                }
            )
        return pd.DataFrame(rows)


def pooling_check(replicates: int, seed: int = 20261130, **study) -> PoolingCheck:
    """Pool ``replicates`` programmes with a shared donor pool, both ways (seeded).

    ``study`` goes to :func:`shared_donor_study` (null by default); coverage is
    of the programme's log effect, ``log(effect)``.
    """
    rng = np.random.default_rng(seed)
    truth = np.log(study.get("effect", 1.0))
    rows = []
    for _ in range(replicates):
        targets, starts, controls, municipality_of = shared_donor_study(rng, **study)
        seed_ = int(rng.integers(2**31))
        row = {}
        for way, nested in (("panel", False), ("panel_nested", True)):
            fit = fit_panel(
                targets, starts, controls, municipalities=municipality_of, nested=nested, seed=seed_
            )
            row |= {
                f"{way}_log_ratio": fit.log_ratio,
                f"{way}_se": fit.std_error,
                f"{way}_p": fit.p_value,
                f"{way}_covers": np.log(fit.ci_low) <= truth <= np.log(fit.ci_high),
            }
        row["panel_nested_tau2"] = fit.between_tau2
        own = np.array([t.log_ratio for t in fit.targets])
        own_se = np.array([t.std_error for t in fit.targets])
        flat = meta_analyse(own, own_se).random
        row |= {
            "flat_meta_log_ratio": flat.estimate,
            "flat_meta_se": flat.std_error,
            "flat_meta_p": flat.p_value,
            "flat_meta_covers": flat.ci_low <= truth <= flat.ci_high,
        }
        rows.append(row)
    return PoolingCheck(pd.DataFrame(rows))


def main(replicates: int = 400, **study) -> PoolingCheck:
    check = pooling_check(replicates, **study)
    print(check.summary().to_string(index=False))
    return check
