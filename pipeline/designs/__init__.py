"""Evaluation designs. Add a design by writing a module and listing it in ``DESIGNS``.

``DESIGNS`` is ordered from the strongest design to the weakest: the first one
that applies, can be estimated and may be primary becomes the primary estimate
(see ``pipeline.evaluation.municipality.PRIMARY_RULE``).
"""

from __future__ import annotations

from .base import Design, DesignData
from .buffer import BufferDisplacement
from .controlled import ControlledComparison
from .donor import DonorComparison
from .its import InterruptedTimeSeries, InterruptedTimeSeriesRank, InterruptedTimeSeriesSlope
from .prepost import PrePost
from .proportion import ProportionComparison, ProportionPrePost
from .relative_effect import RelativeEffect

DESIGNS: tuple[Design, ...] = (
    DonorComparison(),
    ControlledComparison(),
    InterruptedTimeSeries(),
    PrePost(),
    InterruptedTimeSeriesSlope(),
    BufferDisplacement(),
    RelativeEffect(),
    ProportionComparison(),
    ProportionPrePost(),
)

__all__ = [
    "DESIGNS",
    "BufferDisplacement",
    "ControlledComparison",
    "Design",
    "DesignData",
    "DonorComparison",
    "InterruptedTimeSeries",
    "InterruptedTimeSeriesRank",
    "InterruptedTimeSeriesSlope",
    "PrePost",
    "ProportionComparison",
    "ProportionPrePost",
    "RelativeEffect",
]
