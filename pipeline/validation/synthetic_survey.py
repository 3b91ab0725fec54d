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
