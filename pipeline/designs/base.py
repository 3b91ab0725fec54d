"""What every design receives and how it plugs in.

A design is an object with a ``name``, an ``sms_level``, ``applies(data)``
and ``estimate(data) -> Effect``. The evaluation loop (:mod:`pipeline.evaluation.municipality`)
builds one :class:`DesignData` per target and indicator and asks every
registered design whether it applies, so a new design is added by writing a
module and listing it in ``pipeline.designs.DESIGNS`` — nothing in the
orchestration changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

import numpy as np
import pandas as pd

from ..inputs.study import Analysis, Indicator, Place, Shock
from ..results import Effect

if TYPE_CHECKING:
    from ..inputs.prepare import StudyData


def place_series(rows: pd.DataFrame) -> pd.DataFrame:
    """One place's rows of the long series as a frame by month: ``value`` and ``exposure``.

    A series without exposure gets 1.0, so every design can use it as an offset.
    """
    frame = rows.set_index("period")[["value", "exposure"]].sort_index()
    return frame.assign(exposure=frame["exposure"].fillna(1.0))


def cut_before_co_intervention(
    frame: pd.DataFrame, place: Place, start: pd.Period
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """A target's series cut before the first co-intervention after its start, with the note."""
    later = sorted(c.start for c in place.co_interventions if pd.Period(c.start, freq="M") > start)
    if not later:
        return frame, ()
    cut = pd.Period(later[0], freq="M")
    return frame[frame.index < cut], (f"series cut before the co-intervention starting {cut}",)


@dataclass(frozen=True)
class DesignData:
    """The series one target and indicator needs, aligned and cut to the analysis window.

    ``target``, each entry of ``controls`` and ``donors``, and ``buffer`` are
    frames indexed by monthly period with columns ``value`` and ``exposure``
    (1.0 where the study gives no exposure). ``donors`` holds the study's donor
    pool, minus the target's own controls, cut to the target's window.
    """

    municipality: str
    place: Place
    indicator: Indicator
    start: pd.Period
    target: pd.DataFrame
    controls: dict[str, pd.DataFrame] = field(default_factory=dict)
    buffer: pd.DataFrame | None = None
    buffer_place: Place | None = None
    buffer_controls: dict[str, pd.DataFrame] = field(default_factory=dict)
    donors: dict[str, pd.DataFrame] = field(default_factory=dict)
    shocks: tuple[Shock, ...] = ()
    notes: tuple[str, ...] = ()
    analysis: Analysis = field(default_factory=Analysis)

    @property
    def periods(self) -> pd.PeriodIndex:
        return pd.PeriodIndex(self.target.index)

    @property
    def post(self) -> np.ndarray:
        return (self.periods >= self.start).astype(float)

    @property
    def n_pre(self) -> int:
        return int((self.periods < self.start).sum())

    @property
    def n_post(self) -> int:
        return int((self.periods >= self.start).sum())

    def effect(self, design: Design, **fields) -> Effect:
        """An :class:`Effect` of ``design`` for this target and indicator.

        Fills in what every design shares (municipality, place, indicator,
        design name, SMS level, periods before and after, notes); ``fields``
        give the estimate and may override any of them.
        """
        shared = {
            "municipality": self.municipality,
            "place_id": self.place.id,
            "indicator": self.indicator.id,
            "design": design.name,
            "sms_level": design.sms_level,
            "n_pre": self.n_pre,
            "n_post": self.n_post,
            "notes": self.notes,
        }
        return Effect(**{**shared, **fields})

    def pooled_controls(self) -> pd.DataFrame | None:
        """All controls summed period by period (counts and exposures add)."""
        return pool(self.controls)

    def pooled_buffer_controls(self) -> pd.DataFrame | None:
        """The buffer's own controls summed, or the target's when none are given."""
        return pool(self.buffer_controls) if self.buffer_controls else self.pooled_controls()


@dataclass(frozen=True)
class TargetSeries:
    """The targets' series of one count indicator, as the designs of several targets take them.

    Attributes
    ----------
    series, starts, municipality
        Target id -> its series (cut before a co-intervention after its
        start), its first month of the measures, its municipality.
    cut
        Target id -> the notes on its cut series (only targets that were cut).
    missing
        Targets without the indicator, in the order given.
    """

    series: dict[str, pd.DataFrame]
    starts: dict[str, pd.Period]
    municipality: dict[str, str]
    cut: dict[str, tuple[str, ...]]
    missing: tuple[str, ...]


def target_series(data: StudyData, indicator_id: str, targets: Sequence[Place]) -> TargetSeries:
    """Each target's series of ``indicator_id``, cut before its first co-intervention after its start.

    Raises
    ------
    ValueError
        A place that is not a target with an intervention start.
    """
    rows = data.series[data.series["indicator"] == indicator_id]
    by_place = {str(k): g for k, g in rows.groupby("place_id", sort=False)}
    series, starts, municipality, cut, missing = {}, {}, {}, {}, []
    for place in targets:
        if place.role != "target" or place.intervention_start is None:
            raise ValueError(f"{place.id!r} is not a target with an intervention start")
        if place.id not in by_place:
            missing.append(place.id)
            continue
        start = pd.Period(place.intervention_start, freq="M")
        frame, notes = cut_before_co_intervention(place_series(by_place[place.id]), place, start)
        if notes:
            cut[place.id] = notes
        series[place.id], starts[place.id] = frame, start
        municipality[place.id] = place.municipality
    return TargetSeries(series, starts, municipality, cut, tuple(missing))


def pool(frames: dict[str, pd.DataFrame]) -> pd.DataFrame | None:
    """Series summed period by period (counts and exposures add); None for no series."""
    if not frames:
        return None
    parts = list(frames.values())
    total = parts[0][["value", "exposure"]].copy()
    for frame in parts[1:]:
        total = total.add(frame[["value", "exposure"]], fill_value=np.nan)
    return total.dropna()


class Design(Protocol):
    name: str
    sms_level: int

    def applies(self, data: DesignData) -> bool: ...

    def estimate(self, data: DesignData) -> Effect | tuple[Effect, ...]: ...


def shock_dummies(periods: pd.PeriodIndex, shocks: tuple[Shock, ...]) -> pd.DataFrame:
    """One 0/1 column per declared shock, 1 for months inside the shock period."""
    columns = {}
    for shock in shocks:
        inside = periods >= pd.Period(shock.start, freq="M")
        if shock.end is not None:
            inside &= periods <= pd.Period(shock.end, freq="M")
        if 0 < inside.sum() < len(periods):
            columns[f"shock_{shock.id}"] = inside.astype(float)
    return pd.DataFrame(columns, index=periods)


def harmonics(periods: pd.PeriodIndex, pairs: int) -> pd.DataFrame:
    """Fourier terms for monthly seasonality (``pairs`` sine/cosine pairs)."""
    month = periods.month.to_numpy()
    columns = {}
    for k in range(1, pairs + 1):
        columns[f"sin{k}"] = np.sin(2 * np.pi * k * month / 12)
        columns[f"cos{k}"] = np.cos(2 * np.pi * k * month / 12)
    return pd.DataFrame(columns, index=periods)


def _mark_primary(effect: Effect, rule: str) -> Effect:
    return replace(effect, primary=True, primary_rule=rule)
