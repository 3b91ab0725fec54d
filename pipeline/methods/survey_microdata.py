"""Survey microdata prepared for estimation, shared by every survey statistic.

One question's answers with the answer codes that count as unsafe, the waves
pooled into before and after, the target and comparison groups, weighted sums
per cell (Kish's effective n), small-cell suppression, the design columns of a
model with a comparison group, its odds-ratio table and the notes its cells
call for. :mod:`.survey` (shares and their change), :mod:`.survey_ordinal` (the
proportional-odds model) and :mod:`.survey_areas` (the areas as the unit of
inference) build on it, so each rule is written once.

Survey microdata is personal data. Everything here returns aggregates or works
on the rows a caller passes in; estimates on fewer than ``MIN_CELL_N``
respondents are blanked by :func:`suppress_small_cells`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

import numpy as np
import pandas as pd
from scipy import stats

from ..errors import EstimationError
from ..inputs.survey import MISSING_ANSWER
from .proportions import _z

__all__ = [
    "DEFAULT_UNSAFE",
    "MIN_CELL_N",
    "UNRELIABLE_N",
    "DateLike",
    "assign_period",
    "cell_notes",
    "check_cells",
    "design_matrix",
    "design_text",
    "group_keys",
    "hc_scale",
    "model_frame",
    "odds_ratio_terms",
    "period_cells",
    "select_question",
    "suppress_small_cells",
    "weighted_cells",
]

DEFAULT_UNSAFE = frozenset({3, 4})
MIN_CELL_N = 5
UNRELIABLE_N = 30

DateLike = str | date | pd.Timestamp


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


def select_question(
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


def assign_period(
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


def group_keys(by: str | Sequence[str] | None) -> list[str]:
    """The grouping columns as a list (none for ``None``)."""
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def weighted_cells(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
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


def model_frame(
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
    """One question's answered rows in the before and after waves of the treated and
    comparison groups, with ``after`` and ``treated`` columns; the groups' names."""
    frame, question, unsafe = select_question(data, question, unsafe)
    if group_col not in frame.columns:
        raise KeyError(f"the survey frame has no column {group_col!r}")
    frame, _, _ = assign_period(frame, before, after)
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


def design_matrix(
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


def odds_ratio_terms(names, coef, cov, level) -> pd.DataFrame:
    """Every term's coefficient, standard error, Wald z and p-value, and odds ratio with its
    interval."""
    z = _z(level)
    se = np.sqrt(np.diag(cov))
    with np.errstate(divide="ignore", invalid="ignore"):
        zval = coef / se
    return pd.DataFrame(
        {
            "term": list(names),
            "coef": coef,
            "std_error": se,
            "z": zval,
            "p_value": 2 * stats.norm.sf(np.abs(zval)),
            "odds_ratio": np.exp(coef),
            "or_low": np.exp(coef - z * se),
            "or_high": np.exp(coef + z * se),
        }
    )


def period_cells(
    frame: pd.DataFrame, group_col: str, min_n: int, unreliable_n: int
) -> pd.DataFrame:
    """Respondents, effective n and weighted share per group and period, small cells blanked."""
    cells = weighted_cells(frame, [group_col, "after"])
    cells["period"] = np.where(cells["after"] == 1, "after", "before")
    cells = cells[[group_col, "period", "n", "n_eff", "share"]]
    return suppress_small_cells(cells, "n", min_n, unreliable_n=unreliable_n)


def cell_notes(cells: pd.DataFrame, group_col: str, min_n: int, unreliable_n: int) -> list[str]:
    """A note for every group and period with few respondents."""
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


def hc_scale(cov_type: str, n: int, k: int) -> float:
    """The factor that turns an HC0 sandwich into ``cov_type`` (HC1: ``n / (n - k)``)."""
    if cov_type == "HC0":
        return 1.0
    if cov_type == "HC1":
        return n / (n - k)
    raise ValueError(f"cov_type must be 'HC0' or 'HC1', got {cov_type!r}")


def design_text(treated: list[str], comparison: list[str]) -> str:
    """The design and its Maryland SMS level, in words."""
    if treated:
        return (
            f"before/after, treated {', '.join(treated)} vs comparison {', '.join(comparison)} "
            "(Maryland SMS level 3)"
        )
    return "before/after without a comparison group (Maryland SMS level 2)"


def check_cells(frame: pd.DataFrame, group_col: str, groups: list[str], *, binary: bool) -> None:
    """Refuse a model whose group and period cell is empty (or, for a binary outcome,
    has everyone or no one unsafe)."""
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
