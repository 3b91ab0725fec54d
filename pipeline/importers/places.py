"""Place polygons: read, checked, completed with buffer rings, and drawn.

The places are polygons (GeoJSON or GeoPackage, drawn by the municipality)
with a ``place_id`` attribute naming places of ``study.yml``.

- The coordinate system is read from the file, and the file's coordinates
  must lie in Sweden in that system; otherwise (a GeoJSON in metres with no
  system declared, which readers take as WGS 84; latitude and longitude
  swapped; a wrong declaration) it is an error naming the system and the
  coordinates found. Everything is then brought to SWEREF 99 TM (metres).
- Places must not overlap (more than :data:`OVERLAP_TOLERANCE_M2` in common);
  shared boundaries are fine.
- **Buffers** on request: a target whose ``buffer`` in ``study.yml`` has no
  polygon in the file gets a ring of ``buffer_width`` metres around it, minus
  the target and every other place.
- The places come back in counting order: targets, buffers, controls, each in
  the order of ``study.yml`` (the boundary rule of
  :mod:`pipeline.importers.offences`).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import Problem, ValidationError
from pipeline.inputs.study import Study

SWEREF99TM = "EPSG:3006"
WGS84 = "EPSG:4326"
#: Overlap between places tolerated as digitising noise, in square metres.
OVERLAP_TOLERANCE_M2 = 1.0
ROLE_ORDER = {"target": 0, "buffer": 1, "control": 2}
PLACES_FILE = "places.geojson"
MAP_FILE = "places_map.png"

#: Sweden's extent in each coordinate system, a little widened (west, south, east, north).
SWEDEN_BOUNDS = {
    SWEREF99TM: (180_000.0, 6_100_000.0, 1_000_000.0, 7_700_000.0),
    WGS84: (10.0, 55.0, 24.5, 69.5),
}


def in_sweden(x: np.ndarray, y: np.ndarray, crs: str) -> np.ndarray:
    """Whether each coordinate pair lies in Sweden's extent in `crs` (EPSG:3006 or EPSG:4326)."""
    west, south, east, north = SWEDEN_BOUNDS[crs]
    return (x >= west) & (x <= east) & (y >= south) & (y <= north)


def crs_name(crs: str) -> str:
    """A coordinate system as a reader knows it: "SWEREF 99 TM (EPSG:3006)"."""
    return {SWEREF99TM: "SWEREF 99 TM (EPSG:3006)", WGS84: "WGS 84 (EPSG:4326)"}.get(crs, crs)


def read_places(
    path: str | Path, study: Study, *, layer: str | None = None, buffer_width: float | None = None
):
    """Read the place polygons, check them, and add the buffers asked for.

    Returns
    -------
    geopandas.GeoDataFrame
        Columns ``place_id``, ``role``, ``generated`` (bool: a buffer made
        here) and ``geometry``, in SWEREF 99 TM, in counting order.

    Raises
    ------
    ValidationError
        An unreadable file, no or a wrong coordinate system, unknown or
        repeated place ids, geometries that are not valid polygons,
        overlapping places, or a buffer with neither polygon nor width.
    """
    import geopandas as gpd
    import pyogrio
    from shapely.ops import unary_union

    file = str(path)
    if not Path(path).is_file():
        raise ValidationError.single(file, "file not found")
    try:
        places = gpd.read_file(path, layer=layer)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, ValueError) as exc:
        raise ValidationError.single(
            file, f"cannot be read as GeoJSON or GeoPackage polygons: {exc}"
        ) from None
    if places.crs is None:
        raise ValidationError.single(
            file,
            "the file declares no coordinate system; save it with one "
            "(SWEREF 99 TM, EPSG:3006, is what Swedish municipalities draw in)",
        )
    crs = places.crs
    _check_extent(file, places, crs)
    places = places.to_crs(SWEREF99TM)
    columns = {c.lower(): c for c in places.columns}
    if "place_id" not in columns:
        raise ValidationError.single(
            file,
            f"no 'place_id' attribute (attributes: {', '.join(c for c in places.columns if c != 'geometry')})",
            column="place_id",
        )
    places = places.rename(columns={columns["place_id"]: "place_id"})
    roles = {p.id: p.role for p in study.places}
    order = {p.id: i for i, p in enumerate(study.places)}
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for i, (place_id, geometry) in enumerate(zip(places["place_id"], places.geometry, strict=True)):
        feature = f"feature {i + 1} ({place_id})"
        if place_id not in roles:
            problems.append(
                Problem(
                    file,
                    f"{feature}: unknown place_id '{place_id}' (not in study.yml)",
                    column="place_id",
                )
            )
        elif place_id in seen:
            problems.append(
                Problem(
                    file, f"{feature}: place_id repeats feature {seen[place_id]}", column="place_id"
                )
            )
        else:
            seen[place_id] = i + 1
        if geometry is None or geometry.is_empty:
            problems.append(Problem(file, f"{feature}: no geometry"))
        elif geometry.geom_type not in ("Polygon", "MultiPolygon"):
            problems.append(Problem(file, f"{feature}: a {geometry.geom_type}, not a polygon"))
        elif not geometry.is_valid:
            from shapely.validation import explain_validity

            problems.append(
                Problem(file, f"{feature}: not a valid polygon ({explain_validity(geometry)})")
            )
    if problems:
        raise ValidationError(problems)

    places = places[["place_id", "geometry"]].copy()
    places["role"] = places["place_id"].map(roles)
    places["generated"] = False
    problems += _overlaps(file, places)
    if problems:
        raise ValidationError(problems)

    given = set(places["place_id"])
    rings = []
    for place in study.places:
        if place.role != "target" or place.buffer is None or place.buffer in given:
            continue
        if place.id not in given:
            continue
        if buffer_width is None:
            problems.append(
                Problem(
                    file,
                    f"target {place.id} has buffer {place.buffer} in study.yml but the file has "
                    "no polygon for it: draw one, or give --buffer-width METRES to make a ring",
                )
            )
            continue
        target = places.loc[places["place_id"] == place.id, "geometry"].iloc[0]
        others = unary_union([*places.geometry, *(r["geometry"] for r in rings)])
        ring = target.buffer(buffer_width).difference(others)
        rings.append(
            {"place_id": place.buffer, "geometry": ring, "role": "buffer", "generated": True}
        )
    if problems:
        raise ValidationError(problems)
    if rings:
        places = pd.concat(
            [places, gpd.GeoDataFrame(rings, geometry="geometry", crs=SWEREF99TM)],
            ignore_index=True,
        )
    places["_order"] = [
        (ROLE_ORDER[r], order[p]) for r, p in zip(places["role"], places["place_id"], strict=True)
    ]
    places = places.sort_values("_order").drop(columns="_order").reset_index(drop=True)
    return gpd.GeoDataFrame(places, geometry="geometry", crs=SWEREF99TM)


def _check_extent(file: str, places, crs) -> None:
    """The file's coordinates must lie in Sweden in the system it declares."""
    import pyproj

    west, south, east, north = places.total_bounds
    try:
        to_wgs = pyproj.Transformer.from_crs(crs, WGS84, always_xy=True)
        lon, lat = to_wgs.transform([west, east, west, east], [south, south, north, north])
    except pyproj.exceptions.ProjError:
        lon, lat = [np.inf], [np.inf]
    lon, lat = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    ok = np.isfinite(lon).all() and np.isfinite(lat).all()
    ok = ok and bool(in_sweden(lon, lat, WGS84).all())
    if ok:
        return
    name = crs.name if hasattr(crs, "name") else str(crs)
    code = crs.to_epsg()
    declared = f"{name} (EPSG:{code})" if code else name
    hint = ""
    if in_sweden(np.array([west, east]), np.array([south, north]), SWEREF99TM).all():
        hint = (
            "; the numbers look like SWEREF 99 TM metres (EPSG:3006): save the file with that "
            "system (a GeoJSON without a 'crs' member is read as WGS 84)"
        )
    elif in_sweden(np.array([south, north]), np.array([west, east]), WGS84).all():
        hint = "; latitude and longitude look swapped"
    raise ValidationError.single(
        file,
        f"the coordinates ({west:g}, {south:g}) to ({east:g}, {north:g}) do not lie in Sweden "
        f"in the coordinate system the file declares, {declared}{hint}",
    )


def _overlaps(file: str, places) -> list[Problem]:
    problems = []
    geometries = list(places.geometry)
    ids = list(places["place_id"])
    tree_index = places.sindex
    for i, geometry in enumerate(geometries):
        for j in tree_index.query(geometry, predicate="intersects"):
            if j <= i:
                continue
            area = geometry.intersection(geometries[j]).area
            if area > OVERLAP_TOLERANCE_M2:
                problems.append(
                    Problem(
                        file,
                        f"places {ids[i]} and {ids[j]} overlap ({area:,.0f} m²): an offence there "
                        "would belong to both; redraw them so they only share a boundary",
                    )
                )
    return problems


def places_geojson(places) -> bytes:
    """The places (buffers included) as GeoJSON in SWEREF 99 TM, with their role."""
    out = places[["place_id", "role", "generated", "geometry"]]
    return out.to_json(drop_id=True, to_wgs84=False).encode("utf-8")


def plot_places_map(places, *, title: str | None = None, ax=None, role_labels=None):
    """A map of targets, buffers and controls.

    Parameters
    ----------
    places : geopandas.GeoDataFrame
        From :func:`read_places`; each polygon is labelled with its ``place_id``.
    title : str, optional
    ax : matplotlib.axes.Axes, optional
    role_labels : mapping of str to str, optional
        The legend's words for ``target``, ``buffer`` and ``control`` (the roles by default).

    Returns
    -------
    (matplotlib.figure.Figure, matplotlib.axes.Axes)
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    from pipeline.report.style import PALETTE

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 7))
    else:
        fig = ax.figure
    hatches = {"target": "", "buffer": "..", "control": "//"}
    for role in ("buffer", "control", "target"):
        subset = places[places["role"] == role]
        if subset.empty:
            continue
        subset.plot(
            ax=ax,
            facecolor=PALETTE[role],
            edgecolor="black",
            alpha=0.55,
            hatch=hatches[role],
            linewidth=0.8,
        )
        for place_id, geometry in zip(subset["place_id"], subset.geometry, strict=True):
            # A ring's label goes above it, clear of its target's label.
            if role == "buffer":
                xy, va = (geometry.centroid.x, geometry.bounds[3]), "bottom"
            else:
                point = geometry.representative_point()
                xy, va = (point.x, point.y), "center"
            ax.annotate(
                place_id,
                xy,
                ha="center",
                va=va,
                fontsize=7,
                bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "lw": 0},
            )
    ax.legend(
        handles=[
            Patch(
                facecolor=PALETTE[r],
                edgecolor="black",
                alpha=0.55,
                hatch=hatches[r],
                label=(role_labels or {}).get(r, r),
            )
            for r in ("target", "buffer", "control")
            if (places["role"] == r).any()
        ],
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_xlabel("E (m, SWEREF 99 TM)")
    ax.set_ylabel("N (m, SWEREF 99 TM)")
    ax.set_aspect("equal")
    ax.ticklabel_format(style="plain", useOffset=False)
    # Seven-digit northings overlap at the default density.
    ax.xaxis.set_major_locator(MaxNLocator(4))
    ax.yaxis.set_major_locator(MaxNLocator(5))
    ax.tick_params(labelsize=8)
    if title:
        ax.set_title(title)
    return fig, ax


def map_png(places, *, title: str | None = None) -> bytes:
    """:func:`plot_places_map` as PNG bytes (reproducible: no timestamp in the file)."""
    from matplotlib.figure import Figure

    # A bare Figure: no pyplot state and no display backend involved.
    fig = Figure(figsize=(7, 7))
    plot_places_map(places, title=title, ax=fig.subplots())
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight", metadata={"Software": None})
    return buffer.getvalue()
