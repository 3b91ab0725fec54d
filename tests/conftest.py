"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DIR = REPO_ROOT.parent / "shared" / "reference"


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """The public reference data sets beside the repository; tests skip without them."""
    if not REFERENCE_DIR.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE_DIR}")
    return REFERENCE_DIR


@pytest.fixture(scope="session")
def bra_total_series(reference_dir) -> dict:
    """Brå's real monthly totals per municipality, 2013-2016, as the calibration harness takes them."""
    from pipeline.bra import TOTAL, read_bra_folder

    frame = read_bra_folder(reference_dir / "bra_monthly_2013_2016")
    rows = frame[frame["category"] == TOTAL]
    return {
        n: g[["period", "count"]].reset_index(drop=True) for n, g in rows.groupby("municipality")
    }
