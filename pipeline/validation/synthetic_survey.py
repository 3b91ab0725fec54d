"""Seeded synthetic survey microdata with known shares, for tests and demonstrations."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ..inputs.survey import MISSING_ANSWER


def synthetic_survey(
    *,
    seed: int = 0,
    shares: Mapping[tuple[str, str], float] | None = None,
    n: int = 200,
    question: str = "unsafe_evening",
    missing: float = 0.05,
    weight_sigma: float = 0.5,
) -> pd.DataFrame:
    """Seeded survey microdata in the shape :func:`read_survey` returns.

    Parameters
    ----------
    seed : int, default 0
        Seed of the random generator.
    shares : mapping of (group, wave) to float, optional
        The true share unsafe (answers 3-4) per municipality and ISO wave date.
        By default Avesta and Falun in waves 2019-10-01 and 2021-10-01, with
        Avesta's share falling from 35 % to 25 % and Falun's staying at 30 %.
    n : int, default 200
        Respondents per municipality and wave.
    question : str, default "unsafe_evening"
    missing : float, default 0.05
        Probability of answer code 5.
    weight_sigma : float, default 0.5
        Spread of the log-normal weights (0 gives equal weights).

    Returns
    -------
    pandas.DataFrame
    """
    rng = np.random.default_rng(seed)
    if shares is None:
        shares = {
            ("Avesta", "2019-10-01"): 0.35,
            ("Avesta", "2021-10-01"): 0.25,
            ("Falun", "2019-10-01"): 0.30,
            ("Falun", "2021-10-01"): 0.30,
        }
    parts = []
    for (group, wave), share in shares.items():
        unsafe = rng.random(n) < share
        code = np.where(unsafe, 3 + (rng.random(n) < 0.4), 1 + (rng.random(n) < 0.5))
        code = np.where(rng.random(n) < missing, MISSING_ANSWER, code)
        parts.append(
            pd.DataFrame(
                {
                    "respondent_id": [f"{group[:2].upper()}{wave[:4]}-{i:04d}" for i in range(n)],
                    "municipality": group,
                    "place_id": None,
                    "wave": pd.Timestamp(wave),
                    "question": question,
                    "answer_code": code,
                    "weight": rng.lognormal(0.0, weight_sigma, n),
                }
            )
        )
    frame = pd.concat(parts, ignore_index=True)
    frame["answer_code"] = frame["answer_code"].astype("Int64")
    frame["answer"] = frame["answer_code"].where(frame["answer_code"] != MISSING_ANSWER)
    return frame


def _gauss_hermite_share(mean: np.ndarray, sd: float) -> np.ndarray:
    """P(latent > 0) for a latent ``mean + N(0, sd²) + logistic`` noise, by quadrature."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(40)
    weights = weights / weights.sum()
    mean = np.asarray(mean, dtype=float)
    return (weights * (1 / (1 + np.exp(-(mean[..., None] + sd * nodes))))).sum(axis=-1)


def clustered_survey(
    *,
    seed: int = 0,
    n_target: int = 2,
    n_comparison: int = 2,
    effect: float = 0.0,
    shock_sd: float = 0.3,
    respondents: tuple[int, int] = (60, 160),
    repeat_share: float = 0.3,
    person_sd: float = 1.0,
    area_sd: float = 0.4,
    period_effect: float = 0.15,
    baseline: float = -0.3,
    weight_sigma: float = 0.4,
    question: str = "unsafe_evening",
) -> tuple[pd.DataFrame, dict[str, float]]:
    """Seeded survey microdata from target and comparison areas with area-by-wave shocks.

    Each respondent's latent value is the area's baseline, the period change,
    the effect (target areas after), an area-by-wave shock, the person's own
    level and logistic noise; the answer on 1-4 counts the cut points
    (-1.7, 0, 1.5) below it, so answers 3-4 mean the latent value is above 0.
    A share `repeat_share` of each area's after-wave respondents were asked
    before too, with the same id and personal level. Weights are log-normal
    and scaled so that each area's weights sum to its residents.

    Parameters
    ----------
    seed : int
    n_target, n_comparison : int
        Areas per arm.
    effect : float
        The measures' shift of the latent value in the target areas after
        (negative: safer), on the logistic scale.
    shock_sd : float
        Standard deviation of the area-by-wave shocks (logit scale).
    respondents : (int, int)
        Range of respondents per area and wave (uniform).
    repeat_share : float
        Share of the after wave's respondents who also answered before.
    person_sd : float
        Standard deviation of the persons' own levels.
    area_sd : float
        Spread of the areas' baselines.
    period_effect : float
        The change common to every area.
    baseline : float
        Mean latent value of the areas before.
    weight_sigma : float
        Spread of the log-normal weights.
    question : str

    Returns
    -------
    (pandas.DataFrame, dict)
        Microdata in the shape :func:`read_survey` returns, and the truth:
        ``share_difference_pp`` and ``log_odds_ratio`` of the arms' expected
        shares (over persons and shocks), weighted by residents.
    """
    rng = np.random.default_rng(seed)
    cuts = np.array([-1.7, 0.0, 1.5])
    areas = [f"t{i}" for i in range(n_target)] + [f"c{i}" for i in range(n_comparison)]
    target = np.array([a.startswith("t") for a in areas])
    level = baseline + area_sd * rng.standard_normal(len(areas))
    residents = rng.integers(1000, 4000, len(areas)).astype(float)
    parts = []
    expected = np.zeros((len(areas), 2))
    total_sd = float(np.sqrt(person_sd**2 + shock_sd**2))
    for i, area in enumerate(areas):
        n_before, n_after = rng.integers(respondents[0], respondents[1] + 1, 2)
        person = person_sd * rng.standard_normal(n_before + n_after)
        ids = np.array([f"{area}-{j:04d}" for j in range(n_before + n_after)])
        repeats = min(int(round(repeat_share * n_after)), n_before)
        # the first `repeats` after-wave respondents are before-wave respondents again
        after_people = np.r_[np.arange(repeats), n_before + np.arange(repeats, n_after)]
        for flag, people in ((0, np.arange(n_before)), (1, after_people)):
            mean = level[i] + flag * (period_effect + effect * target[i])
            expected[i, flag] = _gauss_hermite_share(mean, total_sd)
            latent = (
                mean
                + shock_sd * rng.standard_normal()
                + person[people]
                + rng.logistic(size=len(people))
            )
            code = 1 + np.searchsorted(cuts, latent)
            weight = rng.lognormal(0.0, weight_sigma, len(people))
            parts.append(
                pd.DataFrame(
                    {
                        "respondent_id": ids[people],
                        "municipality": "M",
                        "place_id": area,
                        "wave": pd.Timestamp("2019-10-01" if flag == 0 else "2022-10-01"),
                        "question": question,
                        "answer_code": code,
                        "weight": weight * residents[i] / weight.sum(),
                    }
                )
            )
    frame = pd.concat(parts, ignore_index=True)
    frame["answer_code"] = frame["answer_code"].astype("Int64")
    frame["answer"] = frame["answer_code"]
    arm = {}
    for name, mask in (("target", target), ("comparison", ~target)):
        pi = residents[mask] / residents[mask].sum()
        arm[name] = pi @ expected[mask]
    logit = lambda p: np.log(p / (1 - p))  # noqa: E731
    truth = {
        "share_difference_pp": float(
            100
            * (
                (arm["target"][1] - arm["target"][0])
                - (arm["comparison"][1] - arm["comparison"][0])
            )
        ),
        "log_odds_ratio": float(
            (logit(arm["target"][1]) - logit(arm["target"][0]))
            - (logit(arm["comparison"][1]) - logit(arm["comparison"][0]))
        ),
    }
    return frame, truth
