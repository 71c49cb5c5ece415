"""QA figures: axial slices through each involved level and a sagittal slice, structures outlined.

Slices are shown in the radiological convention: on axial images the patient's left is on the
screen's right and anterior is up; on sagittal images anterior is on the left and superior up.
The figure is taken along the grid axes nearest to the patient axes (for oblique grids this is
an approximation, said in the title).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from numpy.typing import ArrayLike, NDArray  # noqa: E402

from spinetv.geometry.grid import BoundingBox, ImageGrid  # noqa: E402
from spinetv.geometry.mask import Mask  # noqa: E402
from spinetv.io.atomic import atomic_output  # noqa: E402
from spinetv.io.rtdose import DoseGrid  # noqa: E402

__all__ = [
    "Overlay",
    "PlaneImage",
    "dose_plane",
    "mask_plane",
    "reformat",
    "save_isodose_figure",
    "save_axial_figure",
    "save_sagittal_figure",
]

_SCREEN_AXES = {
    # plane: (patient axis across the screen, patient axis down the screen, fixed axis);
    # each as (LPS axis, sign): +1 means the patient coordinate grows along the screen axis.
    "axial": ((0, 1.0), (1, 1.0), 2),
    "sagittal": ((1, 1.0), (2, -1.0), 0),
}


@dataclass(frozen=True)
class Overlay:
    """A structure to outline: name, mask and colour (RGB 0-255)."""

    name: str
    mask: Mask
    color_rgb: tuple[int, int, int]


@dataclass(frozen=True)
class PlaneImage:
    """A 2-D reformatted plane ready for ``imshow``: rows top to bottom, columns left to right."""

    pixels: NDArray[np.float64]
    extent_mm: tuple[float, float, float, float]
    index: int
    oblique: bool


def _plane_axes(grid: ImageGrid, plane: str) -> tuple[int, int, int, float, float]:
    (across_lps, across_sign), (down_lps, down_sign), fixed_lps = _SCREEN_AXES[plane]
    across_axis, across_dir = grid.axis_of(across_lps)
    down_axis, down_dir = grid.axis_of(down_lps)
    fixed_axis, _ = grid.axis_of(fixed_lps)
    if len({across_axis, down_axis, fixed_axis}) != 3:
        raise ValueError(f"cannot take a {plane} plane from an oblique grid: {grid.describe()}")
    return across_axis, down_axis, fixed_axis, across_dir * across_sign, down_dir * down_sign


def reformat(
    volume: NDArray[np.generic], grid: ImageGrid, plane: str, point_lps: ArrayLike
) -> PlaneImage:
    """The ``plane`` ("axial" or "sagittal") of ``volume`` through ``point_lps`` (mm).

    Parameters
    ----------
    volume : ndarray, shape ``grid.shape``
        Values in numpy order (slice, row, column), in any unit (HU for CT, 0/1 for a mask).
    grid : ImageGrid
        The grid of ``volume``.
    plane : {"axial", "sagittal"}
        Which plane, taken along the grid axis nearest the patient axis.
    point_lps : array_like of 3 float
        A patient position in LPS mm the plane passes through; outside the grid, the nearest
        edge slice is used.

    Returns
    -------
    PlaneImage
        The pixels in radiological display orientation (float64, the input's units), the
        extent ``(0, width, height, 0)`` in mm, the index of the slice taken and whether the
        grid is oblique.

    Raises
    ------
    ValueError
        When two patient axes fall on one grid axis (a strongly oblique grid); an unknown
        ``plane`` raises ``KeyError``. Neither is a :class:`~spinetv.errors.SpinetvError`.
    """
    across_axis, down_axis, fixed_axis, across_flip, down_flip = _plane_axes(grid, plane)
    index = int(
        np.clip(np.rint(grid.lps_to_index(point_lps)[fixed_axis]), 0, grid.shape[fixed_axis] - 1)
    )
    taken = np.take(volume, index, axis=fixed_axis)
    remaining = [a for a in range(3) if a != fixed_axis]
    pixels = np.moveaxis(taken, [remaining.index(down_axis), remaining.index(across_axis)], [0, 1])
    if across_flip < 0:
        pixels = pixels[:, ::-1]
    if down_flip < 0:
        pixels = pixels[::-1, :]
    width = grid.shape[across_axis] * grid.spacing_mm[across_axis]
    height = grid.shape[down_axis] * grid.spacing_mm[down_axis]
    return PlaneImage(
        np.asarray(pixels, dtype=np.float64),
        (0.0, width, height, 0.0),
        index,
        not grid.is_axis_aligned,
    )


def _section_box(grid: ImageGrid, plane: str, point_lps: ArrayLike) -> BoundingBox:
    """The one-slice box of ``grid`` holding the ``plane`` through ``point_lps`` (the nearest
    slice; outside the grid, its edge slice)."""
    _, _, fixed_axis, _, _ = _plane_axes(grid, plane)
    index = int(
        np.clip(np.rint(grid.lps_to_index(point_lps)[fixed_axis]), 0, grid.shape[fixed_axis] - 1)
    )
    start = [0, 0, 0]
    stop = list(grid.shape)
    start[fixed_axis], stop[fixed_axis] = index, index + 1
    return BoundingBox(tuple(start), tuple(stop))  # type: ignore[arg-type]


def mask_plane(mask: Mask, plane: str, point_lps: ArrayLike) -> PlaneImage:
    """The ``plane`` of a mask through ``point_lps``, read from its box (no full-grid array).

    Parameters
    ----------
    mask : Mask
        The mask; may be empty.
    plane : {"axial", "sagittal"}
        Which plane (see :func:`reformat`).
    point_lps : array_like of 3 float
        A patient position in LPS mm the plane passes through.

    Returns
    -------
    PlaneImage
        The mask's section as 0.0 / 1.0 pixels over the whole plane of the mask's grid, extent
        in mm.

    Raises
    ------
    ValueError
        As for :func:`reformat`.
    """
    box = _section_box(mask.grid, plane, point_lps)
    return reformat(mask.in_box(box), mask.grid.crop(box), plane, point_lps)


def _draw(
    ax: plt.Axes,
    ct: NDArray[np.generic] | None,
    grid: ImageGrid,
    plane: str,
    point_lps: ArrayLike,
    overlays: Sequence[Overlay],
    window: tuple[float, float],
) -> PlaneImage:
    if ct is not None:
        base = reformat(ct, grid, plane, point_lps)
        ax.imshow(
            base.pixels,
            cmap="gray",
            vmin=window[0],
            vmax=window[1],
            extent=base.extent_mm,
            interpolation="nearest",
        )
    else:
        base = reformat(np.zeros(grid.shape, dtype=np.float32), grid, plane, point_lps)
        ax.imshow(base.pixels, cmap="gray", extent=base.extent_mm)
    handles = []
    for overlay in overlays:
        if overlay.mask.is_empty:
            continue
        # A planning volume may sit on a finer in-plane grid: it is drawn at its own
        # resolution (both grids span the same millimetres).
        section = mask_plane(overlay.mask, plane, point_lps).pixels
        if not section.any():
            continue
        red, green, blue = (c / 255 for c in overlay.color_rgb)
        color = (red, green, blue)
        rows, cols = section.shape
        x0, x1, y1, _ = base.extent_mm
        xs = np.linspace(x0, x1, cols, endpoint=False) + (x1 - x0) / cols / 2
        ys = np.linspace(0, y1, rows, endpoint=False) + y1 / rows / 2
        ax.contour(xs, ys, section.astype(float), levels=[0.5], colors=[color], linewidths=1.2)
        handles.append(Line2D([0], [0], color=color, lw=2, label=overlay.name))
    if handles:
        ax.legend(
            handles=handles,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=7,
            framealpha=0.9,
        )
    ax.set_axis_off()
    return base


def _screen_mm(
    grid: ImageGrid, plane: str, base: PlaneImage, point_lps: ArrayLike
) -> tuple[float, float]:
    """Where a patient point falls on a reformatted plane, in the plane's mm extent."""
    across_axis, down_axis, _, across_flip, down_flip = _plane_axes(grid, plane)
    ijk = grid.lps_to_index(point_lps)
    across = (ijk[across_axis] + 0.5) * grid.spacing_mm[across_axis]
    down = (ijk[down_axis] + 0.5) * grid.spacing_mm[down_axis]
    if across_flip < 0:
        across = base.extent_mm[1] - across
    if down_flip < 0:
        down = base.extent_mm[2] - down
    return float(across), float(down)


def _crop_view(
    ax: plt.Axes,
    base: PlaneImage,
    focus: Mask | None,
    grid: ImageGrid,
    plane: str,
    half_width_mm: float,
) -> None:
    if focus is None or focus.is_empty:
        return
    across, down = _screen_mm(grid, plane, base, focus.centroid_lps())
    width, height = base.extent_mm[1], base.extent_mm[2]
    ax.set_xlim(max(0.0, across - half_width_mm), min(width, across + half_width_mm))
    ax.set_ylim(min(height, down + half_width_mm), max(0.0, down - half_width_mm))


def _save(fig: plt.Figure, path: str | os.PathLike[str], overwrite: bool) -> Path:
    try:
        with atomic_output(path, overwrite=overwrite) as temp:
            fig.savefig(temp, format="png", dpi=110, bbox_inches="tight")
    finally:
        # A refused or failed write must not leave the figure open (pyplot keeps every figure).
        plt.close(fig)
    return Path(path)


def save_axial_figure(
    path: str | os.PathLike[str],
    *,
    grid: ImageGrid,
    ct: NDArray[np.generic] | None,
    overlays: Sequence[Overlay],
    focus: Mask,
    title: str,
    window: tuple[float, float] = (-200.0, 1000.0),
    half_width_mm: float = 70.0,
    overwrite: bool = False,
) -> Path:
    """Save an axial PNG through the centroid of ``focus`` with ``overlays`` outlined.

    Parameters
    ----------
    path : path-like
        The PNG file (written atomically, 110 dpi).
    grid : ImageGrid
        The grid of ``ct``.
    ct : ndarray or None
        The image in numpy order (slice, row, column) on ``grid``, in its own units (HU for
        CT); None draws the outlines on black.
    overlays : sequence of Overlay
        Structures to outline (empty ones and those missing the plane are skipped); each may
        be on its own grid spanning the same millimetres (a refined planning grid).
    focus : Mask
        A non-empty mask: the plane passes through its centroid and the view is centred on it.
    title : str
        Figure title; the plane and orientation are appended.
    window : (float, float), default (-200.0, 1000.0)
        Display window, lowest and highest value shown, in the image's units (HU for CT).
    half_width_mm : float, default 70.0
        Half the side of the view around the focus, in mm.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    GeometryError
        When ``focus`` is empty (it has no centroid).
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, or is a folder.
    """
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    base = _draw(ax, ct, grid, "axial", focus.centroid_lps(), overlays, window)
    _crop_view(ax, base, focus, grid, "axial", half_width_mm)
    ax.set_title(
        f"{title} (axial; patient L on the right)" + (" oblique" if base.oblique else ""),
        fontsize=9,
    )
    ax.text(0.01, 0.5, "R", transform=ax.transAxes, color="yellow", fontsize=10, va="center")
    ax.text(0.97, 0.5, "L", transform=ax.transAxes, color="yellow", fontsize=10, va="center")
    ax.text(
        0.5, 0.97, "A", transform=ax.transAxes, color="yellow", fontsize=10, ha="center", va="top"
    )
    return _save(fig, path, overwrite)


def save_sagittal_figure(
    path: str | os.PathLike[str],
    *,
    grid: ImageGrid,
    ct: NDArray[np.generic] | None,
    overlays: Sequence[Overlay],
    focus: Mask,
    title: str,
    level_labels: Mapping[str, Mask] | None = None,
    window: tuple[float, float] = (-200.0, 1000.0),
    half_width_mm: float = 110.0,
    overwrite: bool = False,
) -> Path:
    """Save a sagittal PNG through the centroid of ``focus`` (anterior left, superior up).

    Parameters
    ----------
    path : path-like
        The PNG file (written atomically, 110 dpi).
    grid : ImageGrid
        The grid of ``ct``.
    ct : ndarray or None
        The image in numpy order (slice, row, column) on ``grid``, in its own units (HU for
        CT); None draws the outlines on black.
    overlays : sequence of Overlay
        Structures to outline (empty ones and those missing the plane are skipped); each may
        be on its own grid spanning the same millimetres (a refined planning grid).
    focus : Mask
        A non-empty mask: the plane passes through its centroid and the view is centred on it.
    title : str
        Figure title; the plane and orientation are appended.
    level_labels : mapping of str to Mask, optional
        Level name to its vertebra; each non-empty one inside the view is labelled at its
        centroid's height.
    window : (float, float), default (-200.0, 1000.0)
        Display window, lowest and highest value shown, in the image's units (HU for CT).
    half_width_mm : float, default 110.0
        Half the side of the view around the focus, in mm.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    GeometryError
        When ``focus`` is empty (it has no centroid).
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, or is a folder.
    """
    fig, ax = plt.subplots(figsize=(7.5, 7.0))
    base = _draw(ax, ct, grid, "sagittal", focus.centroid_lps(), overlays, window)
    _crop_view(ax, base, focus, grid, "sagittal", half_width_mm)
    for name, mask in (level_labels or {}).items():
        if mask.is_empty:
            continue
        across, down = _screen_mm(grid, "sagittal", base, mask.centroid_lps())
        bottom, top = ax.get_ylim()
        if not min(bottom, top) <= down <= max(bottom, top):
            continue  # a level outside the cropped view gets no label in the margin
        ax.text(across - 45, down, name, color="cyan", fontsize=8, va="center")
    ax.set_title(
        f"{title} (sagittal; anterior left)" + (" oblique" if base.oblique else ""), fontsize=9
    )
    return _save(fig, path, overwrite)


def dose_plane(dose: DoseGrid, grid: ImageGrid, plane: str, point_lps: ArrayLike) -> PlaneImage:
    """The dose on one plane of an image grid, interpolated trilinearly from the dose grid.

    Parameters
    ----------
    dose : DoseGrid
        The dose and its grid.
    grid : ImageGrid
        The image grid whose plane is drawn.
    plane : {"axial", "sagittal"}
        Which plane (see :func:`reformat`).
    point_lps : array_like of 3 float
        A patient position (mm) the plane passes through.

    Returns
    -------
    PlaneImage
        The dose (its units) at the plane's pixel centres, NaN outside the dose grid, oriented
        as :func:`reformat` orients the image.
    """
    from scipy import ndimage

    section = grid.crop(_section_box(grid, plane, point_lps))
    ijk = np.indices(section.shape).reshape(3, -1).T
    at = dose.grid.lps_to_index(section.index_to_lps(ijk))
    upper = np.asarray(dose.grid.shape) - 0.5
    inside = np.all((at >= -0.5) & (at <= upper), axis=1)
    values = np.full(len(at), np.nan)
    clamped = np.clip(at[inside], 0, np.asarray(dose.grid.shape) - 1)
    values[inside] = ndimage.map_coordinates(dose.values, clamped.T, order=1, mode="nearest")
    return reformat(values.reshape(section.shape), section, plane, point_lps)


def save_isodose_figure(
    path: str | os.PathLike[str],
    *,
    grid: ImageGrid,
    ct: NDArray[np.generic] | None,
    dose: DoseGrid,
    levels_gy: Sequence[float],
    overlays: Sequence[Overlay],
    focus: Mask,
    title: str,
    plane: str = "axial",
    window: tuple[float, float] = (-200.0, 1000.0),
    half_width_mm: float = 70.0,
    overwrite: bool = False,
) -> Path:
    """Save a PNG of isodose lines over the image and the structures' outlines.

    Parameters
    ----------
    path : path-like
        The PNG.
    grid : ImageGrid
        The image grid.
    ct : ndarray or None
        The image's voxels (HU), or None for a blank background.
    dose : DoseGrid
        The dose.
    levels_gy : sequence of float
        The isodose levels, in the dose's units (Gy).
    overlays : sequence of Overlay
        Structures to outline.
    focus : Mask
        The plane passes through its centroid, and the view is centred on it.
    title : str
        Figure title.
    plane : {"axial", "sagittal"}
        Which plane.
    window : (float, float)
        Display window of the image, HU.
    half_width_mm : float
        Half the side of the view, mm.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    Path
        The file written.
    """
    centre = focus.centroid_lps()
    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    base = _draw(ax, ct, grid, plane, centre, overlays, window)
    section = dose_plane(dose, grid, plane, centre)
    rows, cols = section.pixels.shape
    x0, x1, y1, _ = base.extent_mm
    xs = np.linspace(x0, x1, cols, endpoint=False) + (x1 - x0) / cols / 2
    ys = np.linspace(0, y1, rows, endpoint=False) + y1 / rows / 2
    levels = sorted(float(v) for v in levels_gy)
    colours = plt.get_cmap("autumn_r")(np.linspace(0.15, 1.0, len(levels)))
    finite = np.nan_to_num(section.pixels, nan=0.0)
    if np.nanmax(section.pixels, initial=0.0) >= levels[0]:
        lines = ax.contour(xs, ys, finite, levels=levels, colors=colours, linewidths=1.0)
        ax.clabel(lines, fmt=lambda v: f"{v:g} Gy", fontsize=6)
    _crop_view(ax, base, focus, grid, plane, half_width_mm)
    ax.set_title(f"{title} ({plane}; isodose lines in Gy)", fontsize=9)
    return _save(fig, path, overwrite)
