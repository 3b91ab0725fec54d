"""The demo study's programme indicators beside crime: footfall, women's share, vacant premises.

Each is drawn from its own random stream (``np.random.default_rng([seed,
INDICATOR_STREAM])``), so the crime series and the other demo files stay as
they were. Every target, its comparison areas, its buffer and the buffer's own
comparison area get the three series; the donor pool does not (it serves the
crime indicators). Their models:

* ``footfall`` (count, visitors a month, exposure = days counted; a rise is
  better): ``Poisson(level x season x covid x municipal shock x effect x days
  counted x gamma frailty)``. Counters miss days now and then: a month loses
  1-6 days with probability ``MISSED_DAYS_PROBABILITY``, and those days are out
  of both the count and the exposure, as the footfall importer writes them.
  The pandemic's dip is deep and the same everywhere.
* ``women_share`` (proportion of visitors counted by hand who are women, per
  month; exposure = visitors counted; a rise is better): ``Binomial(n,
  Beta(p, rho))`` with ``logit p = place level + municipal shock + covid +
  log odds ratio x after``.
* ``vacant_premises`` (proportion of the premises inventoried each September
  that are vacant; exposure = premises; a fall is better): ``Binomial(N,
  Beta(p, rho))`` with ``logit p = place level + log odds ratio x after``.

The true effects (a rate ratio for footfall, odds ratios for the shares) are
written to ``ground_truth_indicators.csv``, Hallstahammar centrum with none.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

INDICATOR_STREAM = 4

INDICATORS = [
    {
        "id": "footfall",
        "label_sv": "Besökare (flödesräkning)",
        "label_en": "Footfall (visitor counts)",
        "family": "count",
        "better": "higher",
        "unit": "besökare per månad",
    },
    {
        "id": "women_share",
        "label_sv": "Andel kvinnor bland besökarna",
        "label_en": "Share of women among visitors",
        "family": "proportion",
        "better": "higher",
        "unit": "andel (%)",
    },
    {
        "id": "vacant_premises",
        "label_sv": "Andel tomma lokaler",
        "label_en": "Share of vacant premises",
        "family": "proportion",
        "better": "lower",
        "unit": "andel (%)",
    },
]

#: Visitors a day before the measures, and the true footfall rate ratio (targets).
FOOTFALL = {
    "avesta_busstorget": (2400, 1.15),
    "avesta_gallerian": (3100, 1.10),
    "avesta_krylbo": (1500, None),
    "avesta_centrum_buffert": (1800, 1.0),
    "falun_knutpunkten": (5200, 1.12),
    "falun_holmtorget": (3800, 1.08),
    "falun_resecentrum": (4500, 1.10),
    "falun_jamforelse_norr": (2600, None),
    "falun_jamforelse_soder": (2200, None),
    "hallstahammar_centrum": (1600, 1.0),
    "hallstahammar_stationsstraket": (700, 1.15),
    "hallstahammar_kolback": (900, None),
    "sala_stationen": (2000, 1.20),
    "sala_stadsparken": (900, 1.10),
    "sala_torget": (1700, 1.05),
    "sala_jamforelse_vaster": (1400, None),
    "sala_stationen_buffert": (1300, 1.0),
    "sala_givare_3": (1100, None),
}
#: The share of women among visitors before the measures, and the true odds ratio.
WOMEN_SHARE = {
    "avesta_busstorget": (0.42, 1.25),
    "avesta_gallerian": (0.52, 1.15),
    "falun_knutpunkten": (0.44, 1.20),
    "falun_holmtorget": (0.47, 1.15),
    "falun_resecentrum": (0.45, 1.10),
    "hallstahammar_centrum": (0.46, 1.0),
    "hallstahammar_stationsstraket": (0.38, 1.30),
    "sala_stationen": (0.40, 1.30),
    "sala_stadsparken": (0.43, 1.20),
    "sala_torget": (0.48, 1.10),
}
#: Premises inventoried, the vacant share before the measures, and the true odds ratio.
VACANT_PREMISES = {
    "avesta_busstorget": (110, 0.16, 0.60),
    "avesta_gallerian": (140, 0.12, 0.70),
    "falun_knutpunkten": (230, 0.10, 0.70),
    "falun_holmtorget": (200, 0.09, 0.80),
    "falun_resecentrum": (120, 0.11, 0.75),
    "hallstahammar_centrum": (95, 0.18, 1.0),
    "hallstahammar_stationsstraket": (50, 0.20, 0.70),
    "sala_stationen": (80, 0.22, 0.45),
    "sala_stadsparken": (60, 0.14, 0.80),
    "sala_torget": (130, 0.15, 0.70),
}
FOOTFALL_SEASON = 0.18  # summer peak on the log scale
FOOTFALL_COVID = 0.45  # depth of the pandemic's dip in footfall (log scale)
FOOTFALL_FRAILTY_SHAPE = 150.0  # gamma shape of the month-to-month variation
MISSED_DAYS_PROBABILITY = 0.08
WOMEN_COUNTED = 350  # mean visitors classified by hand a month
WOMEN_COVID = -0.10  # fewer women among the few visitors in the pandemic (log odds)
SHOCK_SD = 0.05  # the municipality's shared month-to-month change (log scale)
BETA_PRECISION = 300.0  # rho of the beta-binomial monthly share
VACANCY_PRECISION = 400.0
INVENTORY_MONTH = 9


def _comparison_share(target_share: float) -> float:
    return target_share + 0.03


def _with_neighbours(places: list[dict]) -> dict[str, dict]:
    """Every place the three series are drawn for: targets, their controls, buffers, buffer controls."""
    by_id = {p["id"]: p for p in places}
    chosen: dict[str, dict] = {}
    for target in (p for p in places if p["role"] == "target"):
        members = [target["id"], *target.get("controls", ())]
        if target.get("buffer"):
            members += [target["buffer"], *target.get("buffer_controls", ())]
        for member in members:
            chosen[member] = by_id[member]
    return chosen


def _effect_start(place: dict, places: list[dict]) -> pd.Period | None:
    if place["role"] == "target":
        return pd.Period(place["intervention_start"], freq="M")
    for other in places:
        if other.get("buffer") == place["id"]:
            return pd.Period(other["intervention_start"], freq="M")
    return None


def _after(periods: pd.PeriodIndex, start: pd.Period | None) -> np.ndarray:
    return np.zeros(len(periods)) if start is None else (periods >= start).astype(float)


def _expit(x):
    return 1 / (1 + np.exp(-x))


def _logit(p):
    return np.log(p / (1 - p))


def demo_indicator_series(
    rng: np.random.Generator,
    places: list[dict],
    periods: pd.PeriodIndex,
    covid_shape: np.ndarray,
) -> pd.DataFrame:
    """Footfall, women's share and vacant premises, in ``series.csv``'s long form.

    Parameters
    ----------
    rng
        The random stream; the demo uses ``default_rng([seed, INDICATOR_STREAM])``.
    places
        The demo's places (targets name their controls and buffer).
    periods
        The demo's months.
    covid_shape
        The pandemic's dip per month, 0 before it and 1 at its deepest.
    """
    chosen = _with_neighbours(places)
    municipalities = sorted({p["municipality"] for p in chosen.values()})
    shocks = {m: rng.normal(0, SHOCK_SD, len(periods)) for m in municipalities}
    month = periods.month.to_numpy()
    days = periods.days_in_month.to_numpy()
    season = FOOTFALL_SEASON * np.cos(2 * np.pi * (month - 7) / 12)
    rows = []
    for place_id, place in chosen.items():
        start = _effect_start(place, places)
        after = _after(periods, start)
        shock = shocks[place["municipality"]]

        level, effect = FOOTFALL[place_id]
        missed = np.where(
            rng.random(len(periods)) < MISSED_DAYS_PROBABILITY,
            rng.integers(1, 7, len(periods)),
            0,
        )
        counted = days - missed
        mean = (
            level
            * np.exp(season - FOOTFALL_COVID * covid_shape + shock)
            * np.where(after > 0, effect or 1.0, 1.0)
            * counted
        )
        frailty = rng.gamma(FOOTFALL_FRAILTY_SHAPE, 1 / FOOTFALL_FRAILTY_SHAPE, len(periods))
        visitors = rng.poisson(mean * frailty)
        rows += [
            (place_id, "footfall", str(p), str(v), int(c))
            for p, v, c in zip(periods, visitors, counted, strict=True)
        ]

        share, odds_ratio = _women(place_id, place, places)
        logit = _logit(share) + shock + WOMEN_COVID * covid_shape + np.log(odds_ratio) * after
        p = rng.beta(_expit(logit) * BETA_PRECISION, (1 - _expit(logit)) * BETA_PRECISION)
        n = rng.poisson(WOMEN_COUNTED, len(periods))
        women = rng.binomial(n, p)
        rows += [
            (place_id, "women_share", str(period), f"{k / m:.6f}", int(m))
            for period, k, m in zip(periods, women, n, strict=True)
        ]

        premises, vacant, odds_ratio = _vacancy(place_id, place, places)
        years = periods[periods.month == INVENTORY_MONTH]
        logit = _logit(vacant) + np.log(odds_ratio) * _after(years, start)
        p = rng.beta(_expit(logit) * VACANCY_PRECISION, (1 - _expit(logit)) * VACANCY_PRECISION)
        empty = rng.binomial(premises, p)
        rows += [
            (place_id, "vacant_premises", str(period), f"{k / premises:.6f}", premises)
            for period, k in zip(years, empty, strict=True)
        ]
    return pd.DataFrame(rows, columns=["place_id", "indicator", "period", "value", "exposure"])


def _target_of(place: dict, places: list[dict]) -> dict:
    """The first target a comparison area or buffer belongs to (its levels follow that target's)."""
    for target in (p for p in places if p["role"] == "target"):
        if place["id"] in (
            *target.get("controls", ()),
            target.get("buffer"),
            *target.get("buffer_controls", ()),
        ):
            return target
    raise KeyError(place["id"])


def _women(place_id: str, place: dict, places: list[dict]) -> tuple[float, float]:
    if place_id in WOMEN_SHARE:
        return WOMEN_SHARE[place_id]
    share = WOMEN_SHARE[_target_of(place, places)["id"]][0]
    return _comparison_share(share), 1.0


def _vacancy(place_id: str, place: dict, places: list[dict]) -> tuple[int, float, float]:
    if place_id in VACANT_PREMISES:
        return VACANT_PREMISES[place_id]
    premises, vacant, _ = VACANT_PREMISES[_target_of(place, places)["id"]]
    return premises, vacant - 0.02, 1.0


def ground_truth_indicators(places: list[dict]) -> pd.DataFrame:
    """The true effect of every target (and buffer) on each of the three indicators."""
    rows = []
    for place_id, place in _with_neighbours(places).items():
        start = _effect_start(place, places)
        if start is None:
            continue
        rows.append(
            (place_id, place["role"], "footfall", str(start), "rate_ratio", FOOTFALL[place_id][1])
        )
        if place["role"] == "target":
            rows.append(
                (
                    place_id,
                    "target",
                    "women_share",
                    str(start),
                    "odds_ratio",
                    WOMEN_SHARE[place_id][1],
                )
            )
            rows.append(
                (
                    place_id,
                    "target",
                    "vacant_premises",
                    str(start),
                    "odds_ratio",
                    VACANT_PREMISES[place_id][2],
                )
            )
        else:
            rows += [
                (place_id, place["role"], ind, str(start), "odds_ratio", 1.0)
                for ind in ("women_share", "vacant_premises")
            ]
    return pd.DataFrame(
        rows,
        columns=["place_id", "role", "indicator", "effect_start", "estimand", "true_effect"],
    )
