"""Planar contours <-> binary slice masks, in the voxel index coordinates of one slice.

Coordinates are fractional ``(row, column)`` indices of one slice: the centre of pixel
``(r, c)`` is the point ``(r, c)``. Conversion to patient millimetres happens elsewhere, through
:class:`~spinetv.geometry.grid.ImageGrid`.

The two directions are exact inverses: the polygons :func:`mask_to_polygons` makes run between
pixel centres (marching squares at level 0.5), never through them, so
``rasterize_polygons(mask_to_polygons(m), m.shape)`` reproduces ``m`` pixel for pixel.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from skimage.measure import find_contours

from spinetv.errors import GeometryError

__all__ = [
    "Polygon2D",
    "rasterize_polygons",
    "rasterize_polygons_in_box",
    "rasterize_plane_edges",
    "mask_to_polygons",
    "polygon_edges",
]

#: A closed polygon: an ``(n, 2)`` float array of ``(row, column)`` vertices; the last vertex
#: connects back to the first (repeating the first vertex at the end is allowed).
Polygon2D = NDArray[np.float64]


def _as_polygon(polygon: ArrayLike) -> Polygon2D:
    points = np.asarray(polygon, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise GeometryError(
            f"a polygon must be an (n, 2) array of (row, column) vertices, got shape {points.shape}"
        )
    if not np.all(np.isfinite(points)):
        raise GeometryError("a polygon has non-finite vertices")
    return points


def polygon_edges(polygons: Sequence[ArrayLike]) -> NDArray[np.float64]:
    """All non-horizontal edges of closed polygons as an ``(m, 4)`` array ``r0, c0, r1, c1``.

    Horizontal edges (and repeated vertices) never cross a row scanline, so they are dropped.
    Polygons with fewer than 3 vertices enclose nothing and contribute no edge.

    Parameters
    ----------
    polygons : sequence of array_like, each of shape (n, 2)
        Closed polygons of fractional ``(row, column)`` pixel indices of one slice.

    Returns
    -------
    ndarray of float64, shape (m, 4)
        One row ``r0, c0, r1, c1`` per edge, in fractional pixel indices; ``(0, 4)`` when
        there is none.

    Raises
    ------
    GeometryError
        When a polygon is not an ``(n, 2)`` array or has non-finite vertices.
    """
    parts = []
    for polygon in polygons:
        points = _as_polygon(polygon)
        if len(points) < 3:
            continue
        following = np.roll(points, -1, axis=0)
        edges = np.concatenate([points, following], axis=1)
        parts.append(edges[edges[:, 0] != edges[:, 2]])
    if not parts:
        return np.zeros((0, 4), dtype=np.float64)
    return np.concatenate(parts, axis=0)


def rasterize_plane_edges(
    edges: NDArray[np.float64],
    plane_index: NDArray[np.intp],
    shape: tuple[int, int, int],
) -> NDArray[np.bool_]:
    """Even-odd fill of polygon edges lying on several planes of a 3-D box at once.

    Parameters
    ----------
    edges : ndarray, shape (m, 4)
        Non-horizontal edges ``r0, c0, r1, c1`` in fractional (row, column) indices of the box.
    plane_index : ndarray of int, shape (m,)
        The plane (first array axis of the box) each edge lies on, ``0 <= plane < shape[0]``.
    shape : tuple of int
        ``(planes, rows, columns)`` of the output box.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True where a pixel centre lies inside an odd number of the plane's polygons.

    Notes
    -----
    A row scanline at ``r`` crosses an edge when ``min(r0, r1) <= r < max(r0, r1)`` (half-open,
    so a vertex exactly on the scanline counts once), and a pixel ``c`` is inside when an odd
    number of crossings lie at ``x <= c``. Two polygons sharing an edge therefore never both
    claim a pixel centre on that edge. Each crossing adds one to a counter at column
    ``ceil(x)``; a cumulative sum along the row and its parity give the fill, with no sorting.
    """
    n_planes, n_rows, n_cols = (int(v) for v in shape)
    out_shape = (n_planes, n_rows, n_cols)
    if len(edges) == 0 or n_rows == 0 or n_cols == 0 or n_planes == 0:
        return np.zeros(out_shape, dtype=bool)
    r0, c0, r1, c1 = edges[:, 0], edges[:, 1], edges[:, 2], edges[:, 3]
    low = np.minimum(r0, r1)
    high = np.maximum(r0, r1)
    first_row = np.maximum(np.ceil(low), 0).astype(np.intp)
    stop_row = np.minimum(np.ceil(high), n_rows).astype(np.intp)
    counts = np.maximum(stop_row - first_row, 0)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(out_shape, dtype=bool)
    edge_of = np.repeat(np.arange(len(edges)), counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = first_row[edge_of] + offsets
    slope = (c1 - c0) / (r1 - r0)
    cross_col = c0[edge_of] + (rows - r0[edge_of]) * slope[edge_of]
    cols = np.clip(np.ceil(cross_col), 0, n_cols).astype(np.intp)
    planes = np.asarray(plane_index, dtype=np.intp)[edge_of]
    flat = (planes * n_rows + rows) * (n_cols + 1) + cols
    hits = np.bincount(flat, minlength=n_planes * n_rows * (n_cols + 1))
    parity = np.cumsum(hits.reshape(n_planes, n_rows, n_cols + 1), axis=2, dtype=np.int32)
    return (parity[:, :, :n_cols] & 1).astype(bool)


def rasterize_polygons_in_box(
    polygons: Sequence[ArrayLike], shape: tuple[int, int]
) -> tuple[tuple[int, int], NDArray[np.bool_]]:
    """Even-odd fill of polygons, returned as the filled part of the slice only.

    Parameters
    ----------
    polygons : sequence of (n, 2) array_like
        Closed polygons in fractional (row, column) indices.
    shape : tuple of int
        ``(rows, columns)`` of the slice; the fill is clipped to it.

    Returns
    -------
    (row_start, col_start), ndarray of bool
        The offset of the returned box in the slice and the fill inside it (a ``(0, 0)``
        array when nothing is inside).
    """
    n_rows, n_cols = (int(v) for v in shape)
    edges = polygon_edges(polygons)
    if len(edges) == 0:
        return (0, 0), np.zeros((0, 0), dtype=bool)
    row_lo = max(int(np.ceil(min(edges[:, 0].min(), edges[:, 2].min()))), 0)
    row_hi = min(int(np.ceil(max(edges[:, 0].max(), edges[:, 2].max()))), n_rows)
    col_lo = max(int(np.ceil(min(edges[:, 1].min(), edges[:, 3].min()))), 0)
    col_hi = min(int(np.ceil(max(edges[:, 1].max(), edges[:, 3].max()))), n_cols)
    if row_hi <= row_lo or col_hi <= col_lo:
        return (0, 0), np.zeros((0, 0), dtype=bool)
    shifted = edges - np.array([row_lo, col_lo, row_lo, col_lo], dtype=np.float64)
    filled = rasterize_plane_edges(
        shifted, np.zeros(len(edges), dtype=np.intp), (1, row_hi - row_lo, col_hi - col_lo)
    )[0]
    return (row_lo, col_lo), filled


def rasterize_polygons(polygons: Sequence[ArrayLike], shape: tuple[int, int]) -> NDArray[np.bool_]:
    """Fill closed polygons on one slice with the even-odd rule, at pixel centres.

    Parameters
    ----------
    polygons : sequence of (n, 2) array_like
        Closed polygons in fractional (row, column) indices of the slice (pixel centres are
        whole numbers). Several polygons combine even-odd: a polygon inside another is a
        hole, one inside a hole an island.
    shape : tuple of int
        ``(rows, columns)`` of the output.

    Returns
    -------
    ndarray of bool, shape ``shape``
        True where the pixel centre lies inside. A centre exactly on an edge is inside when
        the polygon's interior is to its right (larger column) or below it (larger row), so
        polygons sharing an edge never both claim it.
    """
    out = np.zeros((int(shape[0]), int(shape[1])), dtype=bool)
    (row_lo, col_lo), filled = rasterize_polygons_in_box(polygons, shape)
    if filled.size:
        out[row_lo : row_lo + filled.shape[0], col_lo : col_lo + filled.shape[1]] = filled
    return out


def _drop_collinear(points: Polygon2D) -> Polygon2D:
    """Remove vertices lying on the straight line through their neighbours (same direction)."""
    previous = np.roll(points, 1, axis=0)
    following = np.roll(points, -1, axis=0)
    incoming = points - previous
    outgoing = following - points
    cross = incoming[:, 0] * outgoing[:, 1] - incoming[:, 1] * outgoing[:, 0]
    dot = np.einsum("ij,ij->i", incoming, outgoing)
    keep = ~((np.abs(cross) <= 1e-12) & (dot > 0))
    return points[keep]


def mask_to_polygons(slice_mask: ArrayLike) -> list[Polygon2D]:
    """Closed polygons tracing the boundary of a 2-D binary mask at sub-pixel positions.

    Parameters
    ----------
    slice_mask : array_like of bool, shape (rows, columns)
        One slice of a mask (non-zero is inside).

    Returns
    -------
    list of (n, 2) float arrays
        One polygon per boundary (outer boundaries and holes alike, each closed implicitly:
        the first vertex is not repeated), in fractional (row, column) indices. Vertices lie
        half-way between an inside and an outside pixel centre (marching squares at level 0.5)
        and collinear vertices are dropped. Filled with :func:`rasterize_polygons` (even-odd)
        they give back exactly ``slice_mask``.

    Notes
    -----
    Pixels touching only at a corner are joined into one boundary (the inside is taken as
    8-connected); either choice reproduces the mask exactly, this one gives fewer contours.
    The polygons are ordered by their first vertex, so the output is deterministic.
    """
    mask = np.asarray(slice_mask)
    if mask.ndim != 2:
        raise GeometryError(f"a slice mask must be 2-D, got shape {mask.shape}")
    mask = mask.astype(bool, copy=False)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return []
    cols = np.flatnonzero(mask.any(axis=0))
    r_lo, r_hi, c_lo, c_hi = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    padded = np.zeros((r_hi - r_lo + 2, c_hi - c_lo + 2), dtype=np.uint8)
    padded[1:-1, 1:-1] = mask[r_lo:r_hi, c_lo:c_hi]
    offset = np.array([r_lo - 1, c_lo - 1], dtype=np.float64)
    polygons = []
    for contour in find_contours(padded, 0.5, fully_connected="high"):
        closed = len(contour) > 1 and np.array_equal(contour[0], contour[-1])
        points = _drop_collinear(contour[:-1] if closed else contour)
        if len(points) >= 3:
            polygons.append(points + offset)
    polygons.sort(key=lambda p: (float(p[0, 0]), float(p[0, 1])))
    return polygons
