"""Safety inspections of places (trygghetsbesiktning), before and after.

Tryggare Sverige's safety inspection scores nine aspects of a place's physical
environment from 0 to 20; higher is safer. Scores are banded red, yellow and
green. A place is inspected before the measures and again after, and the
question is how the nine scores moved.

Scores come from :func:`pipeline.inputs.inspections.read_inspections`.

With nine paired scores, large-sample tests do not apply. This module uses
two exact tests: the Wilcoxon signed-rank test (its exact distribution when the
changes are distinct and non-zero, otherwise the exact distribution over all
sign flips, which scipy computes when given ``PermutationMethod``) and a
sign-flip permutation test of the mean change over all ``2⁹ = 512`` flips. The
interval for the mean change inverts that same sign-flip test
(:func:`sign_flip_interval`), so the interval excludes no change exactly when
the test rejects it.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..format import summary_html
from ..inputs.inspections import BANDS, SCORE_MAX, SCORE_MIN, _check_bands, score_band

__all__ = [
    "InspectionChange",
    "inspection_change",
    "inspection_changes",
    "sign_flip_interval",
    "sign_flip_p_value",
]


# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Change and exact tests
# --------------------------------------------------------------------------


def sign_flip_p_value(changes: Sequence[float]) -> float:
    """Exact two-sided sign-flip permutation p-value for the mean change.

    Under the null hypothesis that each paired change is symmetric about zero,
    every pattern of signs is equally likely. The p-value is the share of all
    ``2^k`` sign patterns whose mean change is at least as far from zero as the
    observed one. Zero changes flip to themselves, so they leave the
    distribution unchanged; the smallest attainable p-value is ``2 / 2^m``
    with ``m`` non-zero changes.

    Parameters
    ----------
    changes : sequence of float
        The paired changes (after - before); at most 20.

    Returns
    -------
    float
    """
    d = np.asarray(changes, dtype=float)
    k = d.size
    if k == 0:
        raise ValueError("no changes to test")
    if k > 20:
        raise ValueError(
            "exact enumeration is limited to 20 changes; use scipy.stats.permutation_test"
        )
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=k)))
    means = signs @ d / k
    observed = abs(d.mean())
    # A tolerance so that sign patterns equal to the observed mean count as "as extreme".
    return float(np.mean(np.abs(means) >= observed - 1e-9 * max(1.0, observed)))


def _split_means(d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For every split of `d` into two non-empty parts, the smaller and larger part mean.

    Each unordered split is counted once: the part holding the last change is
    paired with its complement, ``2^(k-1) - 1`` splits in all.
    """
    k = d.size
    sums, sizes = np.zeros(1), np.zeros(1, dtype=np.int64)
    for x in d[:-1]:  # subset sums of the first k - 1 changes, doubling each step
        sums, sizes = np.concatenate([sums, sums + x]), np.concatenate([sizes, sizes + 1])
    sums, sizes = sums[:-1], sizes[:-1]  # drop the subset of all: its complement is empty
    inside = (sums + d[-1]) / (sizes + 1)
    outside = (d.sum() - d[-1] - sums) / (k - 1 - sizes)
    return np.minimum(inside, outside), np.maximum(inside, outside)


def sign_flip_interval(changes: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Exact confidence interval for the mean change, inverting the sign-flip test.

    The interval holds every shift ``δ`` that the test of
    :func:`sign_flip_p_value`, applied to ``changes - δ``, does not reject at
    ``1 - level``: ``p(δ) > 1 - level``. It therefore agrees with the test:
    the interval excludes 0 exactly when ``permutation_p_value <= 1 - level``, and
    it covers the true mean change with probability at least `level` when
    the changes are symmetric about it.

    Parameters
    ----------
    changes : sequence of float
        The paired changes (after - before); at most 20.
    level : float, default 0.95
        The confidence level, between 0 and 1.

    Returns
    -------
    (low, high) : tuple of float
        The smallest and largest accepted shift. ``(-inf, inf)`` when no shift
        can be rejected at this level, which happens when ``2 / 2^k`` (the
        smallest p-value any shifted data can give, k = number of changes)
        exceeds ``1 - level``: k ≤ 5 at 95 %. Zero changes count in k here,
        because shifted they are no longer zero.

    Notes
    -----
    Found exactly, without a grid. Let the sign pattern ``s`` flip the
    subset F of the changes and keep its complement G. Its mean is at least
    as far from zero as the observed mean of ``changes - δ`` exactly when
    ``(Σ_F (x - δ)) (Σ_G (x - δ)) ≤ 0``, that is when δ lies between the
    mean of F and the mean of G. Patterns ``s`` and ``-s`` share this
    condition, and the unflipped pattern and its mirror always count, so
    ``p(δ) = (2 + 2 N(δ)) / 2^k`` with ``N(δ)`` the number of the
    ``2^(k-1) - 1`` splits of the changes in two whose two part means
    bracket δ. The p-value is a step function of δ that changes only at means
    of subsets of the changes, and the test does not reject where at least
    ``c = ⌊(1 - level) 2^(k-1) - 1⌋ + 1`` of these closed intervals overlap.
    The smallest such δ is a left end of some interval and the largest a
    right end, so both are read off the sorted ends by counting (``O(2^k k)``
    time; 20 changes take well under a second).

    The set of accepted shifts contains the mean change (every split
    brackets it) and is usually an interval; should it have gaps, the
    function returns its hull, which covers at least as often. Subset means
    that differ by less than about ``1e-12`` times the largest absolute change
    are treated as equal, as :func:`sign_flip_p_value` treats means within
    ``1e-9`` as ties.
    """
    d = np.asarray(changes, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("no changes to invert")
    if not np.isfinite(d).all():
        raise ValueError("changes must be finite numbers")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level}")
    k = d.size
    if k > 20:
        raise ValueError("exact enumeration is limited to 20 changes")
    # Accept δ iff (2 + 2 N) / 2^k > 1 - level; scaling by powers of two is exact.
    needed = math.floor((1 - level) * 2.0 ** (k - 1) - 1) + 1
    if needed <= 0:
        return -math.inf, math.inf
    low_ends, high_ends = _split_means(d)
    low_ends.sort()
    high_ends.sort()
    # Count on rounded copies, so that ties do not depend on the order of summation.
    scale = max(1.0, float(np.abs(d).max()))
    low_keys = np.round(low_ends / scale, 12)
    high_keys = np.round(high_ends / scale, 12)

    def overlapping(at: np.ndarray) -> np.ndarray:
        # How many of the closed intervals [low, high] contain each point.
        return np.searchsorted(low_keys, at, side="right") - np.searchsorted(
            high_keys, at, side="left"
        )

    low_at = np.flatnonzero(overlapping(low_keys) >= needed)[0]
    high_at = np.flatnonzero(overlapping(high_keys) >= needed)[-1]
    low, high = low_ends[low_at], high_ends[high_at]
    return float(low), float(high)


@dataclass(frozen=True)
class InspectionChange:
    """Before/after scores of one place's safety inspection.

    Attributes
    ----------
    place_id : str
    before, after : pandas.Timestamp
        The inspection dates compared.
    table : pandas.DataFrame
        One row per aspect: ``aspect``, ``score_before``, ``score_after``,
        ``change``, ``band_before``, ``band_after``.
    total_before, total_after, total_change : int
        Sums over the aspects.
    max_total : int
        The highest possible total (20 per aspect).
    mean_change : float
    n_nonzero : int
        Aspects whose score changed.
    wilcoxon_statistic, wilcoxon_p_value : float
        Wilcoxon signed-rank statistic (scipy's: the smaller rank sum) and its
        two-sided p-value (1.0 when no score changed).
    wilcoxon_method : str
        How the p-value was computed.
    zero_method : str
        scipy's treatment of zero changes.
    permutation_p_value : float
        Exact sign-flip permutation p-value of the mean change.
    min_p : float
        The smallest p-value these data could give (``2 / 2^n_nonzero``).
    ci_low, ci_high : float
        Confidence interval for the mean change per aspect, the sign-flip
        test inverted (:func:`sign_flip_interval`). Where the test cannot
        reject any change at this level (five aspects or fewer at 95 %), the
        interval is every possible mean change, ``-20`` to ``20``.
    level : float
        The interval's confidence level.
    bands : tuple
        The band cut-offs used.
    """

    place_id: str
    before: pd.Timestamp
    after: pd.Timestamp
    table: pd.DataFrame
    total_before: int
    total_after: int
    total_change: int
    max_total: int
    mean_change: float
    n_nonzero: int
    wilcoxon_statistic: float
    wilcoxon_p_value: float
    wilcoxon_method: str
    zero_method: str
    permutation_p_value: float
    min_p: float
    ci_low: float
    ci_high: float
    level: float
    bands: tuple[tuple[str, int, int], ...] = BANDS

    def to_frame(self) -> pd.DataFrame:
        """Per-aspect scores plus a ``total`` row, tidy (a copy)."""
        total = pd.DataFrame(
            {
                "aspect": ["total"],
                "score_before": [self.total_before],
                "score_after": [self.total_after],
                "change": [self.total_change],
                "band_before": [None],
                "band_after": [None],
            }
        )
        out = pd.concat([self.table, total], ignore_index=True)
        out.insert(0, "place_id", self.place_id)
        return out

    def summary(self) -> str:
        """A plain-text account of the change and the tests."""
        up = int((self.table["change"] > 0).sum())
        down = int((self.table["change"] < 0).sum())
        lines = [
            f"Safety inspection of {self.place_id}: {self.before.date()} -> {self.after.date()}",
            f"Total {self.total_before} -> {self.total_after} of {self.max_total} "
            f"({self.total_change:+d}; mean change per aspect {self.mean_change:+.2f})",
            f"{up} aspects improved, {down} worsened, {len(self.table) - up - down} unchanged",
            f"Wilcoxon signed-rank ({self.wilcoxon_method}, zeros: {self.zero_method}): "
            f"p = {self.wilcoxon_p_value:.3f}",
            f"Sign-flip permutation test of the mean change (all {2 ** len(self.table)} flips): "
            f"p = {self.permutation_p_value:.3f}; smallest possible p with {self.n_nonzero} changed "
            f"aspects = {self.min_p:.3f}",
            self._interval_text(),
            "Before/after at one place without a comparison place (Maryland SMS level 2).",
        ]
        for row in self.table.itertuples(index=False):
            lines.append(
                f"  {row.aspect:<28} {row.score_before:>2} ({row.band_before}) -> "
                f"{row.score_after:>2} ({row.band_after})  {row.change:+d}"
            )
        return "\n".join(lines)

    def _interval_text(self) -> str:
        text = (
            f"{self.level:.0%} interval for the mean change per aspect (the sign-flip test "
            f"inverted): {self.ci_low:+.2f} to {self.ci_high:+.2f}"
        )
        if self.ci_high - self.ci_low >= SCORE_MAX - SCORE_MIN:
            k = len(self.table)
            text += (
                f", every possible change: with {k} aspects no shift of the scores gives a "
                f"p-value below {2 / 2**k:.3f}"
            )
        return text

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.to_frame())


def _wilcoxon(d: np.ndarray, zero_method: str) -> tuple[float, float, str]:
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return float("nan"), 1.0, "no score changed"
    ties = np.unique(np.abs(nonzero)).size < nonzero.size
    zeros_ranked = zero_method != "wilcox" and nonzero.size < d.size
    x = nonzero if zero_method == "wilcox" else d
    if not ties and not zeros_ranked:
        result = stats.wilcoxon(x, zero_method=zero_method, method="exact")
        method = "exact"
    else:
        # The tabled exact distribution assumes distinct, non-zero changes; with
        # ties or ranked zeros enumerate every sign pattern instead (exact, conditional).
        result = stats.wilcoxon(
            x, zero_method=zero_method, method=stats.PermutationMethod(n_resamples=np.inf)
        )
        method = "exact over all sign flips (ties or zeros)"
    return float(result.statistic), float(result.pvalue), method


def inspection_change(
    data: pd.DataFrame,
    *,
    place_id: str | None = None,
    before: str | pd.Timestamp | None = None,
    after: str | pd.Timestamp | None = None,
    zero_method: str = "wilcox",
    bands: Sequence[tuple[str, int, int]] = BANDS,
    level: float = 0.95,
) -> InspectionChange:
    """Change per aspect and in total between two inspections of a place, with exact tests.

    Parameters
    ----------
    data : pandas.DataFrame
        Inspections as returned by :func:`read_inspections`.
    place_id : str, optional
        The place; may be left out when the data hold one place.
    before, after : date-like, optional
        The inspections compared; by default the place's first and last.
    zero_method : {"wilcox", "pratt", "zsplit"}, default "wilcox"
        How the Wilcoxon test treats unchanged aspects. ``"wilcox"`` drops
        them (a zero carries no sign) and tests the remaining changes;
        ``"pratt"`` ranks them and then drops their ranks, which changes the
        ranks of the others. Bounded integer scores often leave several
        aspects unchanged, and the choice matters when many are. The
        sign-flip permutation test needs no such choice.
    bands : sequence of (name, low, high), default BANDS
        Band cut-offs.
    level : float, default 0.95
        Confidence level of the interval for the mean change.

    Returns
    -------
    InspectionChange

    Raises
    ------
    pipeline.errors.EstimationError
        When the place has fewer than two inspections.
    """
    _check_bands(bands)
    if zero_method not in ("wilcox", "pratt", "zsplit"):
        raise ValueError(f"zero_method must be 'wilcox', 'pratt' or 'zsplit', got {zero_method!r}")
    places = data["place_id"].unique().tolist()
    if place_id is None:
        if len(places) != 1:
            raise ValueError(f"the data hold {len(places)} places; choose one with place_id=")
        place_id = places[0]
    of_place = data.loc[data["place_id"] == place_id]
    if of_place.empty:
        raise ValueError(f"no inspections of place {place_id!r}")
    dates = sorted(pd.to_datetime(of_place["date"]).unique())
    if len(dates) < 2:
        raise EstimationError(
            f"{place_id} has one inspection ({pd.Timestamp(dates[0]).date()}); a change needs two"
        )
    before_ts = pd.Timestamp(before) if before is not None else pd.Timestamp(dates[0])
    after_ts = pd.Timestamp(after) if after is not None else pd.Timestamp(dates[-1])
    for label, ts in (("before", before_ts), ("after", after_ts)):
        if ts not in set(pd.to_datetime(of_place["date"])):
            raise ValueError(f"{place_id} has no inspection on {ts.date()} ({label})")
    if not before_ts < after_ts:
        raise ValueError("the before inspection must precede the after inspection")

    when = pd.to_datetime(of_place["date"])
    b = of_place.loc[when == before_ts, ["aspect", "score"]].rename(
        columns={"score": "score_before"}
    )
    a = of_place.loc[when == after_ts, ["aspect", "score"]].rename(columns={"score": "score_after"})
    table = b.merge(a, on="aspect", how="inner", sort=False)
    if len(table) != len(b) or len(table) != len(a):
        raise ValueError(f"the two inspections of {place_id} score different aspects")
    table["change"] = table["score_after"] - table["score_before"]
    table["band_before"] = [score_band(s, bands=bands) for s in table["score_before"]]
    table["band_after"] = [score_band(s, bands=bands) for s in table["score_after"]]
    table = table.astype({"score_before": int, "score_after": int, "change": int}).reset_index(
        drop=True
    )

    d = table["change"].to_numpy(float)
    statistic, p_wilcoxon, method = _wilcoxon(d, zero_method)
    n_nonzero = int(np.count_nonzero(d))
    ci_low, ci_high = sign_flip_interval(d, level)
    # A confidence set may be cut to the values the mean change can take.
    widest = SCORE_MAX - SCORE_MIN
    ci_low, ci_high = max(ci_low, -widest), min(ci_high, widest)
    return InspectionChange(
        place_id=str(place_id),
        before=before_ts,
        after=after_ts,
        table=table,
        total_before=int(table["score_before"].sum()),
        total_after=int(table["score_after"].sum()),
        total_change=int(table["change"].sum()),
        max_total=SCORE_MAX * len(table),
        mean_change=float(d.mean()),
        n_nonzero=n_nonzero,
        wilcoxon_statistic=statistic,
        wilcoxon_p_value=p_wilcoxon,
        wilcoxon_method=method,
        zero_method=zero_method,
        permutation_p_value=sign_flip_p_value(d),
        min_p=min(1.0, 2.0 / 2**n_nonzero),
        ci_low=ci_low,
        ci_high=ci_high,
        level=float(level),
        bands=tuple(tuple(b) for b in bands),
    )


def inspection_changes(data: pd.DataFrame, **kwargs) -> dict[str, InspectionChange]:
    """:func:`inspection_change` for every place with at least two inspections.

    Parameters
    ----------
    data : pandas.DataFrame
        Inspections as returned by :func:`read_inspections`.
    **kwargs
        ``zero_method``, ``bands`` and ``level``, passed on.

    Returns
    -------
    dict of str to InspectionChange
        Keyed by place id, in order of first appearance.
    """
    out = {}
    for place, of_place in data.groupby("place_id", sort=False):
        if of_place["date"].nunique() >= 2:
            out[str(place)] = inspection_change(data, place_id=place, **kwargs)
    return out


# --------------------------------------------------------------------------
# Chart
# --------------------------------------------------------------------------
