"""Perceived safety from survey microdata.

The indicator is the share of respondents who feel unsafe (for example outdoors
late in the evening in their area), estimated from weighted survey microdata,
and the same question on its full ordered answer scale.

The microdata comes from :func:`pipeline.inputs.survey.read_survey`.

Survey microdata is personal data. Every estimate here returns aggregates only
(never respondent-level rows), and estimates on fewer than ``MIN_CELL_N``
respondents are blanked by :func:`suppress_small_cells`.

The shares, their change and the two models stay in one module (over 500 lines):
they share the period assignment, the cell checks and the small-cell rules, and
splitting them would put those helpers apart from their callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.miscmodels.ordinal_model import OrderedModel

from ..errors import EstimationError
from ..format import summary_html
from ..inputs.survey import MISSING_ANSWER
from .proportions import _z, logit_interval, wilson_interval

__all__ = [
    "DEFAULT_UNSAFE",
    "MIN_CELL_N",
    "UNRELIABLE_N",
    "ShareChange",
    "SurveyModelResult",
    "SurveyShares",
    "change_columns",
    "controlled_comparison",
    "ordinal_model",
    "share_change",
    "share_unsafe",
    "suppress_small_cells",
]

DEFAULT_UNSAFE = frozenset({3, 4})
MIN_CELL_N = 5
UNRELIABLE_N = 30

DateLike = str | date | pd.Timestamp

# --------------------------------------------------------------------------
# Reader
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Intervals and small-cell suppression
# --------------------------------------------------------------------------


def suppress_small_cells(
    table: pd.DataFrame,
    n_col: str | Sequence[str],
    min_n: int = MIN_CELL_N,
    *,
    unreliable_n: int = UNRELIABLE_N,
    estimate_cols: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Blank estimates of small cells and flag estimates on few respondents.

    Parameters
    ----------
    table : pandas.DataFrame
        Aggregated estimates, one row per cell.
    n_col : str or sequence of str
        The column(s) with the number of respondents behind each row. With
        several (e.g. before and after), the smallest counts.
    min_n : int, default 5
        Rows with fewer respondents have their estimates set to missing.
    unreliable_n : int, default 30
        Rows that are not suppressed but have fewer respondents are flagged
        ``unreliable``.
    estimate_cols : sequence of str, optional
        The columns to blank. By default every floating-point column other
        than `n_col` (estimates, intervals, sums of weights); integer counts
        and labels stay, so a reader sees why a cell is blank.

    Returns
    -------
    pandas.DataFrame
        A copy with the estimates blanked and boolean columns ``suppressed``
        and ``unreliable`` set.
    """
    n_cols = [n_col] if isinstance(n_col, str) else list(n_col)
    missing = [c for c in n_cols if c not in table.columns]
    if missing:
        raise KeyError(f"count column(s) not in the table: {missing}")
    out = table.copy()
    if estimate_cols is None:
        estimate_cols = [
            c
            for c in out.columns
            if c not in n_cols
            and c not in ("suppressed", "unreliable")
            and pd.api.types.is_float_dtype(out[c])
        ]
    n = out[n_cols].min(axis=1).fillna(0)
    small = n < min_n
    for column in estimate_cols:
        out[column] = out[column].astype(float).where(~small)
    out["suppressed"] = small.to_numpy()
    out["unreliable"] = (~small & (n < unreliable_n)).to_numpy()
    return out


# --------------------------------------------------------------------------
# Preparing the microdata
# --------------------------------------------------------------------------


def _select_question(
    data: pd.DataFrame, question: str | None, unsafe: Iterable[int]
) -> tuple[pd.DataFrame, str, frozenset[int]]:
    """One question's rows with ``valid`` (answer present) and ``y`` (unsafe) columns."""
    needed = {"question", "answer", "weight"}
    if missing := needed - set(data.columns):
        raise KeyError(f"the survey frame lacks columns {sorted(missing)}")
    unsafe = frozenset(int(a) for a in unsafe)
    if not unsafe or not unsafe < {1, 2, 3, 4}:
        raise ValueError(f"unsafe must be a non-empty proper subset of 1-4, got {sorted(unsafe)}")
    questions = sorted(data["question"].dropna().unique().tolist())
    if question is None:
        if len(questions) != 1:
            raise ValueError(
                f"the data hold {len(questions)} questions ({questions}); choose one with question="
            )
        question = questions[0]
    elif question not in questions:
        raise ValueError(f"question {question!r} is not in the data (it holds {questions})")
    frame = data.loc[data["question"] == question].copy()
    answer = pd.to_numeric(frame["answer"], errors="coerce")
    answer = answer.where(answer != MISSING_ANSWER)
    frame["answer"] = answer
    frame["valid"] = answer.notna()
    frame["y"] = answer.isin(sorted(unsafe)).astype(float)
    if (frame["weight"] <= 0).any() or frame["weight"].isna().any():
        raise ValueError("weights must be positive and present")
    return frame, question, unsafe


def _as_waves(value: DateLike | Iterable[DateLike]) -> tuple[pd.Timestamp, ...]:
    if isinstance(value, (str, date, pd.Timestamp)):
        value = [value]
    return tuple(sorted({pd.Timestamp(v).normalize() for v in value}))


def _assign_period(
    frame: pd.DataFrame, before: DateLike | Iterable[DateLike], after: DateLike | Iterable[DateLike]
) -> tuple[pd.DataFrame, tuple[pd.Timestamp, ...], tuple[pd.Timestamp, ...]]:
    """Keep the rows of the before and after waves; ``after`` is 0 before and 1 after."""
    before_w, after_w = _as_waves(before), _as_waves(after)
    if not before_w or not after_w:
        raise ValueError("give at least one wave for before and for after")
    if overlap := set(before_w) & set(after_w):
        raise ValueError(
            f"waves listed both before and after: {sorted(str(w.date()) for w in overlap)}"
        )
    waves = set(pd.to_datetime(frame["wave"]).dt.normalize())
    if absent := [str(w.date()) for w in (*before_w, *after_w) if w not in waves]:
        raise ValueError(
            f"no answers in wave(s) {absent}; the data have {sorted(str(w.date()) for w in waves)}"
        )
    wave = pd.to_datetime(frame["wave"]).dt.normalize()
    keep = wave.isin(before_w) | wave.isin(after_w)
    out = frame.loc[keep].copy()
    out["after"] = wave[keep].isin(after_w).astype(int)
    return out, before_w, after_w


def _keys(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _cells(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Weighted sums per cell: respondents, missing answers, Σw, Σw², Σwy."""
    w = frame["weight"].astype(float) * frame["valid"]
    work = pd.DataFrame(
        {
            "n": frame["valid"].astype(int),
            "n_missing": (~frame["valid"]).astype(int),
            "sum_weight": w,
            "sum_w2": w**2,
            "sum_wy": w * frame["y"],
        },
        index=frame.index,
    )
    if keys:
        for key in keys:
            work[key] = frame[key]
        out = work.groupby(keys, sort=True, dropna=False).sum().reset_index()
    else:
        out = work.sum().to_frame().T
    out["n"] = out["n"].astype(int)
    out["n_missing"] = out["n_missing"].astype(int)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = out["sum_wy"] / out["sum_weight"]
        out["n_eff"] = out["sum_weight"] ** 2 / out["sum_w2"]
        out["deff"] = out["n"] / out["n_eff"]
    return out


# --------------------------------------------------------------------------
# (a) weighted share unsafe per group and wave
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyShares:
    """Weighted share unsafe per group and wave.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group and wave: ``n`` respondents with an answer,
        ``n_missing`` (code 5), ``sum_weight``, ``n_eff`` (Kish), ``deff``,
        ``share``, ``ci_lower``, ``ci_upper``, ``suppressed``, ``unreliable``.
    question : str
    unsafe : tuple of int
        The answer codes counted as unsafe.
    by : tuple of str
        The grouping columns.
    level : float
    method : str
        ``"wilson"`` or ``"logit"``.
    """

    table: pd.DataFrame
    question: str
    unsafe: tuple[int, ...]
    by: tuple[str, ...]
    level: float
    method: str

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """A plain-text table of the estimates."""
        lines = [
            f"Share answering {'/'.join(map(str, self.unsafe))} to {self.question} "
            f"(weighted; {self.level:.0%} {self.method} interval on Kish's effective n)"
        ]
        for row in self.table.itertuples(index=False):
            label = " / ".join(str(getattr(row, k)) for k in self.by) or "all"
            wave = pd.Timestamp(row.wave).date()
            if row.suppressed:
                est = "suppressed (fewer than 5 respondents)"
            else:
                est = f"{row.share:6.1%} ({row.ci_lower:.1%} to {row.ci_upper:.1%})"
                if row.unreliable:
                    est += "  unreliable: n < 30"
            lines.append(f"  {label:<24} {wave}  n={row.n:<5d} {est}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.table)


def share_unsafe(
    data: pd.DataFrame,
    *,
    question: str | None = None,
    by: str | Sequence[str] | None = "municipality",
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    method: str = "wilson",
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyShares:
    """Weighted share of respondents who feel unsafe, per group and wave.

    The share is the ratio estimator ``Σ w·y / Σ w`` over respondents with an
    answer (code 5 is missing and leaves the denominator). Its interval is
    a Wilson score interval computed with Kish's effective sample size
    ``n_eff = (Σw)² / Σw²`` in place of ``n``.

    Why this interval: unequal weights inflate the variance of a proportion by
    Kish's design effect ``deff = n / n_eff`` (``1 + CV²`` of the weights), so
    the binomial variance on ``n_eff`` respondents approximates the weighted
    estimator's variance. Wilson rather than Wald because shares of "very
    unsafe" in small places are near 0 or 1 and cells are small: Wilson stays in
    [0, 1], keeps near-nominal coverage at small n and does not collapse to zero
    width at 0 % or 100 %. Using it with an effective n is the approach that
    performed well in comparisons of intervals for survey proportions (Korn &
    Graubard 1998; Dean & Pagano 2015). ``method="logit"`` gives the logit
    interval on the same effective n (undefined at 0 % and 100 %).

    Kish's deff covers unequal weighting only; it does not capture clustering
    or stratification, and it assumes the weights are unrelated to the answer.
    For a cluster sample use a design-based variance instead.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey` (needs
        ``question``, ``answer``, ``weight``, ``wave`` and the `by` columns).
    question : str, optional
        The question; required when the data hold more than one.
    by : str or sequence of str or None, default "municipality"
        Grouping columns (e.g. ``"place_id"``); None for all respondents.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe.
    level : float, default 0.95
        Confidence level.
    method : {"wilson", "logit"}
        The interval.
    min_n, unreliable_n : int
        Passed to :func:`suppress_small_cells`.

    Returns
    -------
    SurveyShares
    """
    if method not in ("wilson", "logit"):
        raise ValueError(f"method must be 'wilson' or 'logit', got {method!r}")
    frame, question, unsafe = _select_question(data, question, unsafe)
    keys = _keys(by)
    cells = _cells(frame.assign(wave=pd.to_datetime(frame["wave"])), [*keys, "wave"])
    interval = wilson_interval if method == "wilson" else logit_interval
    cells["ci_lower"], cells["ci_upper"] = interval(cells["share"], cells["n_eff"], level=level)
    table = cells[
        [
            *keys,
            "wave",
            "n",
            "n_missing",
            "sum_weight",
            "n_eff",
            "deff",
            "share",
            "ci_lower",
            "ci_upper",
        ]
    ]
    table = suppress_small_cells(table, "n", min_n, unreliable_n=unreliable_n)
    return SurveyShares(
        table.reset_index(drop=True), question, tuple(sorted(unsafe)), tuple(keys), level, method
    )


# --------------------------------------------------------------------------
# (b) before/after change in the share
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareChange:
    """Before/after change in the weighted share unsafe, per group.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per group: ``n_before``, ``n_after``, ``n_eff_before``,
        ``n_eff_after``, ``share_before``, ``share_after``, ``diff_pp`` with
        ``diff_lower_pp``/``diff_upper_pp`` (Newcombe hybrid score interval,
        percentage points), ``odds_ratio`` with ``or_lower``/``or_upper``
        (Woolf, effective n), ``p_value`` (Wald test of the log odds ratio),
        ``suppressed``, ``unreliable``.
    question : str
    unsafe : tuple of int
    by : tuple of str
    before, after : tuple of pandas.Timestamp
        The waves pooled into each period.
    level : float
    """

    table: pd.DataFrame
    question: str
    unsafe: tuple[int, ...]
    by: tuple[str, ...]
    before: tuple[pd.Timestamp, ...]
    after: tuple[pd.Timestamp, ...]
    level: float

    def to_frame(self) -> pd.DataFrame:
        """The estimates as a tidy frame (a copy)."""
        return self.table.copy()

    def summary(self) -> str:
        """A plain-text account of the change per group."""
        waves = lambda ws: ", ".join(str(w.date()) for w in ws)  # noqa: E731
        lines = [
            f"Change in share answering {'/'.join(map(str, self.unsafe))} to {self.question}, "
            f"before ({waves(self.before)}) vs after ({waves(self.after)}); {self.level:.0%} intervals",
            "Before/after without a comparison group (Maryland SMS level 2): "
            "changes everywhere (e.g. the pandemic) are included.",
        ]
        for row in self.table.itertuples(index=False):
            label = " / ".join(str(getattr(row, k)) for k in self.by) or "all"
            if row.suppressed:
                lines.append(f"  {label:<24} suppressed (fewer than 5 respondents in a period)")
                continue
            text = (
                f"  {label:<24} {row.share_before:.1%} -> {row.share_after:.1%}: "
                f"{row.diff_pp:+.1f} pp ({row.diff_lower_pp:+.1f} to {row.diff_upper_pp:+.1f}); "
                f"OR {row.odds_ratio:.2f} ({row.or_lower:.2f} to {row.or_upper:.2f}), p = {row.p_value:.3f}"
            )
            if row.unreliable:
                text += "  unreliable: n < 30"
            lines.append(text)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.table)


def share_change(
    data: pd.DataFrame,
    *,
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    by: str | Sequence[str] | None = "municipality",
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> ShareChange:
    """Change in the weighted share unsafe from the before to the after waves.

    The difference is in percentage points with Newcombe's hybrid score
    interval (his method 10), built from the two Wilson intervals on Kish's
    effective n, so it inherits their behaviour near 0 and 1. The odds ratio
    (after vs before) has Woolf's log interval with effective n in place of
    counts, ``SE² = 1/(n_eff,a p_a(1-p_a)) + 1/(n_eff,b p_b(1-p_b))``; it is
    missing when a share is 0 or 1.

    Both assume the two periods are independent samples (repeated cross
    sections). For a panel, where the same people answer twice, the intervals
    are conservative when answers correlate positively.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey`.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period; other waves are ignored.
    question : str, optional
        Required when the data hold more than one question.
    by : str or sequence of str or None, default "municipality"
        Grouping columns; None for all respondents together.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe.
    level : float, default 0.95
    min_n, unreliable_n : int
        Passed to :func:`suppress_small_cells` (the smaller period counts).

    Returns
    -------
    ShareChange
    """
    frame, question, unsafe = _select_question(data, question, unsafe)
    frame, before_w, after_w = _assign_period(frame, before, after)
    keys = _keys(by)
    cells = _cells(frame, [*keys, "after"])
    wide_parts = []
    for flag, suffix in ((0, "before"), (1, "after")):
        part = cells.loc[cells["after"] == flag, [*keys, "n", "n_eff", "share"]]
        wide_parts.append(
            part.rename(columns={c: f"{c}_{suffix}" for c in ("n", "n_eff", "share")})
        )
    if keys:
        wide = wide_parts[0].merge(wide_parts[1], on=keys, how="outer").sort_values(keys)
    else:
        wide = pd.concat([p.reset_index(drop=True) for p in wide_parts], axis=1)
    for c in ("n_before", "n_after"):
        wide[c] = wide[c].fillna(0).astype(int)

    wide = change_columns(wide, level, min_n, unreliable_n)
    return ShareChange(
        wide.reset_index(drop=True),
        question,
        tuple(sorted(unsafe)),
        tuple(keys),
        before_w,
        after_w,
        level,
    )


def change_columns(wide: pd.DataFrame, level: float, min_n: int, unreliable_n: int) -> pd.DataFrame:
    """Add the before/after change of :class:`ShareChange` to one row per group.

    `wide` holds ``n_before``, ``n_after``, ``n_eff_before``, ``n_eff_after``,
    ``share_before`` and ``share_after``; microdata and reported shares both
    reach the change through it.
    """
    p0, p1 = wide["share_before"].to_numpy(float), wide["share_after"].to_numpy(float)
    m0, m1 = wide["n_eff_before"].to_numpy(float), wide["n_eff_after"].to_numpy(float)
    l0, u0 = wilson_interval(p0, m0, level=level)
    l1, u1 = wilson_interval(p1, m1, level=level)
    diff = p1 - p0
    wide["diff_pp"] = 100 * diff
    wide["diff_lower_pp"] = 100 * (diff - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2))
    wide["diff_upper_pp"] = 100 * (diff + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2))
    z = _z(level)
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (p0 > 0) & (p0 < 1) & (p1 > 0) & (p1 < 1)
        log_or = np.where(inside, np.log(p1 / (1 - p1)) - np.log(p0 / (1 - p0)), np.nan)
        se = np.sqrt(1 / (m1 * p1 * (1 - p1)) + 1 / (m0 * p0 * (1 - p0)))
    wide["odds_ratio"] = np.exp(log_or)
    wide["or_lower"] = np.exp(log_or - z * se)
    wide["or_upper"] = np.exp(log_or + z * se)
    wide["p_value"] = 2 * stats.norm.sf(np.abs(log_or / se))
    wide = suppress_small_cells(wide, ["n_before", "n_after"], min_n, unreliable_n=unreliable_n)
    return wide


# --------------------------------------------------------------------------
# (c) and (d) models with a comparison group
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class SurveyModelResult:
    """A weighted model of survey answers with a period (and group x period) term.

    Holds aggregates only: coefficients, cell counts and shares, never rows.

    Attributes
    ----------
    model : str
        ``"logit"`` (unsafe yes/no) or ``"ordinal logit"`` (proportional odds).
    question : str
    outcome : str
        What is modelled, in words.
    term : str
        The term of interest: ``"treated:after"`` or, without a comparison
        group, ``"after"``.
    odds_ratio, ci_lower, ci_upper, p_value : float
        Its odds ratio, interval and Wald p-value. For the ordinal model it is
        the cumulative odds ratio of a less safe answer.
    params : pandas.DataFrame
        Every term: ``term``, ``coef``, ``std_err``, ``z``, ``p_value``,
        ``odds_ratio``, ``or_lower``, ``or_upper``.
    cells : pandas.DataFrame
        Respondents, effective n and weighted share unsafe per group and period
        (small cells suppressed).
    n : int
        Respondents in the model.
    cov_type : str
    level : float
    design : str
        The Maryland SMS level the estimate reaches, in words.
    notes : tuple of str
        Caveats found in the data (small cells, ...).
    """

    model: str
    question: str
    outcome: str
    term: str
    odds_ratio: float
    ci_lower: float
    ci_upper: float
    p_value: float
    params: pd.DataFrame
    cells: pd.DataFrame
    n: int
    cov_type: str
    level: float
    design: str
    notes: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """Every term's estimate as a tidy frame (a copy)."""
        return self.params.copy()

    def summary(self) -> str:
        """A plain-text account of the estimate and its caveats."""
        lines = [
            f"Weighted {self.model} model for {self.question}: {self.outcome}",
            f"{self.term}: odds ratio {self.odds_ratio:.2f} "
            f"({self.level:.0%} CI {self.ci_lower:.2f} to {self.ci_upper:.2f}), p = {self.p_value:.3f}",
            f"n = {self.n} respondents; {self.cov_type} sandwich standard errors; {self.design}",
        ]
        lines += [f"Note: {note}" for note in self.notes]
        lines.append(self.params.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return summary_html(self.summary(), self.params)


def _model_frame(
    data: pd.DataFrame,
    *,
    question: str | None,
    unsafe: Iterable[int],
    before,
    after,
    group_col: str,
    treated: str | Iterable[str] | None,
    comparison: str | Iterable[str] | None,
) -> tuple[pd.DataFrame, str, frozenset[int], list[str], list[str]]:
    frame, question, unsafe = _select_question(data, question, unsafe)
    if group_col not in frame.columns:
        raise KeyError(f"the survey frame has no column {group_col!r}")
    frame, _, _ = _assign_period(frame, before, after)
    frame = frame.loc[frame["valid"] & frame[group_col].notna()].copy()
    groups = sorted(frame[group_col].astype(str).unique())
    frame[group_col] = frame[group_col].astype(str)
    if isinstance(treated, str):
        treated = [treated]
    if isinstance(comparison, str):
        comparison = [comparison]
    treated_list = sorted({str(t) for t in treated}) if treated is not None else []
    if unknown := [t for t in treated_list if t not in groups]:
        raise ValueError(f"treated group(s) {unknown} have no answers in these waves")
    if comparison is None:
        comparison_list = [g for g in groups if g not in treated_list]
    else:
        comparison_list = sorted({str(c) for c in comparison})
        if unknown := [c for c in comparison_list if c not in groups]:
            raise ValueError(f"comparison group(s) {unknown} have no answers in these waves")
        if both := set(comparison_list) & set(treated_list):
            raise ValueError(f"groups both treated and comparison: {sorted(both)}")
    if treated is not None and not comparison_list:
        raise ValueError("a controlled comparison needs at least one comparison group")
    keep = treated_list + comparison_list
    frame = frame.loc[frame[group_col].isin(keep)].copy()
    frame["treated"] = frame[group_col].isin(treated_list).astype(int)
    return frame, question, unsafe, treated_list, comparison_list


def _design(
    frame: pd.DataFrame, group_col: str, groups: list[str], treated: bool, intercept: bool
) -> pd.DataFrame:
    """Group fixed effects (first group is the reference), after, and treated:after."""
    columns: dict[str, np.ndarray] = {}
    if intercept:
        columns["Intercept"] = np.ones(len(frame))
    for g in groups[1:]:
        columns[f"{group_col}[{g}]"] = (frame[group_col] == g).to_numpy(float)
    columns["after"] = frame["after"].to_numpy(float)
    if treated:
        columns["treated:after"] = (frame["treated"] * frame["after"]).to_numpy(float)
    return pd.DataFrame(columns, index=frame.index)


def _params_table(names, coef, cov, level) -> pd.DataFrame:
    z = _z(level)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = coef / se
    return pd.DataFrame(
        {
            "term": list(names),
            "coef": coef,
            "std_err": se,
            "z": zval,
            "p_value": 2 * stats.norm.sf(np.abs(zval)),
            "odds_ratio": np.exp(coef),
            "or_lower": np.exp(coef - z * se),
            "or_upper": np.exp(coef + z * se),
        }
    )


def _cell_table(frame: pd.DataFrame, group_col: str, min_n: int, unreliable_n: int) -> pd.DataFrame:
    cells = _cells(frame, [group_col, "after"])
    cells["period"] = np.where(cells["after"] == 1, "after", "before")
    cells = cells[[group_col, "period", "n", "n_eff", "share"]]
    return suppress_small_cells(cells, "n", min_n, unreliable_n=unreliable_n)


def _cell_notes(cells: pd.DataFrame, group_col: str, min_n: int, unreliable_n: int) -> list[str]:
    notes = []
    for row in cells.itertuples(index=False):
        label = f"{getattr(row, group_col)} {row.period}"
        if row.n < min_n:
            notes.append(
                f"{label} has fewer than {min_n} respondents; the estimate rests on very few people"
            )
        elif row.n < unreliable_n:
            notes.append(
                f"{label} has fewer than {unreliable_n} respondents; treat the estimate as unreliable"
            )
    return notes


def _hc_scale(cov_type: str, n: int, k: int) -> float:
    if cov_type == "HC0":
        return 1.0
    if cov_type == "HC1":
        return n / (n - k)
    raise ValueError(f"cov_type must be 'HC0' or 'HC1', got {cov_type!r}")


def _design_text(treated: list[str], comparison: list[str]) -> str:
    if treated:
        return (
            f"before/after, treated {', '.join(treated)} vs comparison {', '.join(comparison)} "
            "(Maryland SMS level 3)"
        )
    return "before/after without a comparison group (Maryland SMS level 2)"


def controlled_comparison(
    data: pd.DataFrame,
    *,
    treated: str | Iterable[str],
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "municipality",
    comparison: str | Iterable[str] | None = None,
    unsafe: Iterable[int] = DEFAULT_UNSAFE,
    level: float = 0.95,
    cov_type: str = "HC1",
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyModelResult:
    """Weighted logistic regression ``unsafe ~ group + after + treated:after``.

    The odds ratio of ``treated:after`` is the difference-in-differences on
    the log-odds scale: how much more (OR > 1) or less (OR < 1) the odds of
    feeling unsafe changed in the treated groups than in the comparison groups.
    Each group has its own intercept (fixed effect), the first comparison
    group being the reference; with one treated and one comparison group the
    model is saturated and the odds ratio equals the ratio of the two groups'
    before/after odds ratios from :func:`share_change`.

    Weights: the model is fitted by survey pseudo-maximum-likelihood, i.e.
    statsmodels ``GLM(..., family=Binomial(), var_weights=w)`` with the
    weights rescaled to mean 1 (the estimate does not depend on their scale).
    ``var_weights`` gives the same coefficients as ``freq_weights`` but
    ``freq_weights`` would treat Σw as the number of independent observations
    and understate the standard errors. Standard errors are the sandwich
    ``H⁻¹ (Σ sᵢsᵢᵀ) H⁻¹`` with weighted scores (HC0). For ``"HC1"`` this
    function multiplies by ``n/(n-k)`` itself: in statsmodels 0.15 GLM every
    ``cov_type="HCx"`` returns HC0 (statsmodels issue #7798). The sandwich
    treats respondents as independent: it holds when groups are whole
    populations sampled independently (municipalities), but not when answers
    cluster by area and wave, where it rejects a true null far too often
    (``benchmarks/survey_inference.py``); with two to four groups a
    cluster-robust variance by group would not be usable either. For areas use
    :func:`pipeline.methods.survey_areas.area_difference_in_differences`.

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey`.
    treated : str or iterable of str
        Values of `group_col` that received the measures.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period.
    question : str, optional
        Required when the data hold more than one question.
    group_col : str, default "municipality"
        The column defining groups (e.g. ``"place_id"``).
    comparison : str or iterable of str, optional
        Comparison groups; by default every group that is not treated.
    unsafe : iterable of int, default {3, 4}
        Answer codes that count as feeling unsafe. Fitting with {2, 3, 4},
        {3, 4} and {4} shows whether the effect depends on the cut, which is
        also an informal check of the ordinal model's proportional odds.
    level : float, default 0.95
    cov_type : {"HC1", "HC0"}
    min_n, unreliable_n : int
        Thresholds for suppressing and flagging cells in ``cells``.

    Returns
    -------
    SurveyModelResult

    Raises
    ------
    pipeline.errors.EstimationError
        When a group x period cell is empty or everyone (or no one) in it is
        unsafe: the log-odds are then infinite.
    """
    frame, question, unsafe, treated_list, comparison_list = _model_frame(
        data,
        question=question,
        unsafe=unsafe,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    groups = comparison_list + treated_list  # reference = first comparison group
    _check_cells(frame, group_col, groups, binary=True)
    exog = _design(frame, group_col, groups, treated=True, intercept=True)
    weights = frame["weight"].to_numpy(float)
    weights = weights / weights.mean()
    fit = sm.GLM(
        frame["y"].to_numpy(float),
        exog.to_numpy(),
        family=sm.families.Binomial(),
        var_weights=weights,
    ).fit(cov_type="HC0")
    n, k = exog.shape
    cov = np.asarray(fit.cov_params()) * _hc_scale(cov_type, n, k)
    params = _params_table(exog.columns, np.asarray(fit.params), cov, level)
    cells = _cell_table(frame, group_col, min_n, unreliable_n)
    key = params.loc[params["term"] == "treated:after"].iloc[0]
    return SurveyModelResult(
        model="logit",
        question=question,
        outcome=f"unsafe = answer in {{{', '.join(map(str, sorted(unsafe)))}}}",
        term="treated:after",
        odds_ratio=float(key["odds_ratio"]),
        ci_lower=float(key["or_lower"]),
        ci_upper=float(key["or_upper"]),
        p_value=float(key["p_value"]),
        params=params,
        cells=cells,
        n=int(n),
        cov_type=cov_type,
        level=level,
        design=_design_text(treated_list, comparison_list),
        notes=tuple(_cell_notes(cells, group_col, min_n, unreliable_n)),
    )


def _check_cells(frame: pd.DataFrame, group_col: str, groups: list[str], *, binary: bool) -> None:
    for g in groups:
        for flag, period in ((0, "before"), (1, "after")):
            cell = frame.loc[(frame[group_col] == g) & (frame["after"] == flag)]
            if cell.empty:
                raise EstimationError(f"{group_col} {g} has no answers {period}")
            if binary and cell["y"].nunique() < 2:
                share = "all" if cell["y"].iloc[0] == 1 else "none"
                raise EstimationError(
                    f"in {group_col} {g} {period}, {share} of the {len(cell)} respondents are unsafe: "
                    "the odds are 0 or infinite and the model cannot be estimated"
                )


class _WeightedOrderedModel(OrderedModel):
    """OrderedModel with a weighted log-likelihood (survey pseudo-likelihood).

    statsmodels' OrderedModel takes no weights. Its score and Hessian are
    numerical derivatives of ``loglikeobs`` and ``loglike`` (statsmodels 0.15),
    so weighting ``loglikeobs`` weights the estimating equations, the Hessian
    and the per-observation scores used by the sandwich covariance.
    """

    def __init__(self, endog, exog, *, weights=None, distr="logit"):
        super().__init__(endog, exog, distr=distr)
        n = len(self.endog)
        self.survey_weights = np.ones(n) if weights is None else np.asarray(weights, dtype=float)

    def loglikeobs(self, params):
        return self.survey_weights * super().loglikeobs(params)


def ordinal_model(
    data: pd.DataFrame,
    *,
    before: DateLike | Iterable[DateLike],
    after: DateLike | Iterable[DateLike],
    question: str | None = None,
    group_col: str = "municipality",
    treated: str | Iterable[str] | None = None,
    comparison: str | Iterable[str] | None = None,
    level: float = 0.95,
    cov_type: str = "HC1",
    weighted: bool = True,
    min_n: int = MIN_CELL_N,
    unreliable_n: int = UNRELIABLE_N,
) -> SurveyModelResult:
    """Proportional-odds (ordered logit) model of the full answer scale 1-4.

    Uses statsmodels ``OrderedModel`` with ``distr="logit"``: with cut points
    ``c₁ < c₂ < c₃``, ``P(answer ≤ j) = F(c_j - xβ)``, so a positive
    coefficient moves answers towards "very unsafe" and ``exp(β)`` is the
    cumulative odds ratio of a less safe answer at every cut. Terms: group
    fixed effects (no intercept; the cut points take its place), ``after``
    and, with `treated`, ``treated:after``. Code 5 (don't go out / no answer)
    is left out, not placed on the scale.

    Weights: OrderedModel accepts no weights. With ``weighted=True`` (the
    default) this function maximises the weighted pseudo-log-likelihood
    ``Σ wᵢ log Lᵢ`` by overriding ``loglikeobs``, with weights rescaled to mean
    1, and reports sandwich (HC0, times ``n/(n-k)`` for HC1) standard errors;
    this works because OrderedModel differentiates ``loglikeobs`` numerically
    (checked in the tests: equal weights reproduce OrderedModel exactly, and
    integer weights reproduce the coefficients of a fit on the expanded data).
    Expanding the data by rounded weights was rejected: it treats Σw as the
    number of respondents and understates the standard errors. With
    ``weighted=False`` the model describes the sample, not the population.

    The proportional-odds assumption (one β for every cut) is tested by
    :func:`pipeline.methods.survey_areas.proportional_odds_check`. The
    sandwich errors treat respondents as independent; with answers clustered
    by area and wave use the areas' spread
    (:func:`pipeline.methods.survey_areas.area_log_odds_standard_error`).

    Parameters
    ----------
    data : pandas.DataFrame
        Survey microdata as returned by :func:`read_survey`.
    before, after : date-like or iterable of date-like
        The wave(s) pooled into each period.
    question : str, optional
        Required when the data hold more than one question.
    group_col : str, default "municipality"
        The column defining groups.
    treated : str or iterable of str, optional
        Groups that received the measures; without them the key term is
        ``after`` (before/after only).
    comparison : str or iterable of str, optional
        Comparison groups; by default every group that is not treated.
    level : float, default 0.95
    cov_type : {"HC1", "HC0"}
    weighted : bool, default True
        Fit the weighted pseudo-likelihood (see above).
    min_n, unreliable_n : int
        Thresholds for suppressing and flagging cells in ``cells``.

    Returns
    -------
    SurveyModelResult
        ``params`` holds the effect terms followed by the cut points
        (``cut 1|2`` ...; their standard errors are left missing because the
        model estimates them in an increment parameterisation).

    Raises
    ------
    pipeline.errors.EstimationError
        When a group x period cell is empty, fewer than two answer levels
        occur, or the optimiser does not converge.
    """
    frame, question, _, treated_list, comparison_list = _model_frame(
        data,
        question=question,
        unsafe=DEFAULT_UNSAFE,
        before=before,
        after=after,
        group_col=group_col,
        treated=treated,
        comparison=comparison,
    )
    groups = comparison_list + treated_list
    _check_cells(frame, group_col, groups, binary=False)
    levels = sorted(frame["answer"].astype(int).unique())
    if len(levels) < 2:
        raise EstimationError(
            f"all answers are {levels[0]}: an ordinal model needs at least two levels"
        )
    exog = _design(frame, group_col, groups, treated=bool(treated_list), intercept=False)
    endog = frame["answer"].astype(int).to_numpy()
    weights = frame["weight"].to_numpy(float) if weighted else np.ones(len(frame))
    weights = weights / weights.mean()
    model = _WeightedOrderedModel(endog, exog.to_numpy(), weights=weights, distr="logit")
    fit = model.fit(method="bfgs", maxiter=500, disp=False, cov_type="HC0")
    if not fit.mle_retvals.get("converged", False):
        raise EstimationError("the ordered logit did not converge")
    n, k_exog = exog.shape
    k_all = len(fit.params)
    cov = np.asarray(fit.cov_params()) * _hc_scale(cov_type, n, k_all)
    coef = np.asarray(fit.params)
    params = _params_table(exog.columns, coef[:k_exog], cov[:k_exog, :k_exog], level)
    cuts = model.transform_threshold_params(coef)[1:-1]
    cut_rows = pd.DataFrame(
        {
            "term": [f"cut {a}|{b}" for a, b in zip(levels[:-1], levels[1:], strict=True)],
            "coef": cuts,
        }
    )
    params = pd.concat([params, cut_rows], ignore_index=True)
    term = "treated:after" if treated_list else "after"
    key = params.loc[params["term"] == term].iloc[0]
    cells = _cell_table(frame, group_col, min_n, unreliable_n)
    notes = _cell_notes(cells, group_col, min_n, unreliable_n)
    if not weighted:
        notes.append("fitted without survey weights: describes the sample, not the population")
    return SurveyModelResult(
        model="ordinal logit",
        question=question,
        outcome=f"answer on the ordered scale {levels[0]}-{levels[-1]} (higher = less safe)",
        term=term,
        odds_ratio=float(key["odds_ratio"]),
        ci_lower=float(key["or_lower"]),
        ci_upper=float(key["or_upper"]),
        p_value=float(key["p_value"]),
        params=params,
        cells=cells,
        n=int(n),
        cov_type=cov_type if weighted else f"{cov_type} (unweighted)",
        level=level,
        design=_design_text(treated_list, comparison_list),
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------
# Synthetic data for tests and demonstrations
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# Plot
# --------------------------------------------------------------------------
