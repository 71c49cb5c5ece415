r"""Exact Euclidean margins: grow or shrink a mask by a (possibly anisotropic) distance in mm.

A :class:`Margin` gives a distance in millimetres towards each of the six patient directions.
It defines a convex structuring set in patient (LPS) millimetres,

.. math::

    B = \{\, d : \sum_{a \in \{x, y, z\}} (d_a / r_a(\operatorname{sign} d_a))^2 \le 1 \,\}

where :math:`r_x(+) =` left, :math:`r_x(-) =` right, :math:`r_y(-) =` anterior, :math:`r_y(+) =`
posterior, :math:`r_z(+) =` superior and :math:`r_z(-) =` inferior (LPS: +x is the patient's left,
+y posterior, +z superior). In each of the eight octants B is the matching octant of the ellipsoid
whose semi-axes are that octant's three margins, so B is the union of eight octant pieces of
(generally different) ellipsoids; for a symmetric margin it is one ellipsoid, for an isotropic
margin a ball. A zero margin in a direction means no growth that way (``0 / 0`` counts as 0).

:func:`expand` returns the Minkowski sum ``X + B`` of the mask ``X``, evaluated exactly on voxel
centres: a voxel is in the result when its centre ``p`` lies at ``p = x + d`` for the centre
``x`` of some voxel of the mask and some ``d`` in ``B``. This is computed on the real voxel
spacing and through the grid's direction cosines, so a left margin grows towards the patient's
left on head-first, feet-first, prone and oblique grids alike. :func:`shrink` is the Minkowski
difference (the morphological erosion by ``B``): a voxel is kept when every centre ``p + d``,
``d`` in ``B``, is in the mask, with voxels outside the image counting as outside the mask. The
side a margin names is the side of the mask that moves: a left margin moves the left surface
of the mask to the left when expanding and to the right when shrinking, so
``shrink(expand(x, m), m)`` is the morphological closing of ``x`` by ``B``.

Tolerance: a voxel centre counts as inside ``B`` when its squared normalised distance
:math:`\sum (d_a / r_a)^2` is at most ``1 + 1e-6``, i.e. when it lies within half a part per
million of the margin beyond the surface (5 nm for a 10 mm margin). Centres exactly on the surface
(a 3 mm margin on 1 mm voxels) are therefore included whatever the floating-point rounding.

Methods (all exact on voxel centres, only the bounding box plus the margin is processed; ``"auto"``
takes ``"separable"`` on axis-aligned grids, ``"edt"`` for isotropic margins on oblique grids and
``"element"`` otherwise):

* ``"edt"``: :func:`scipy.ndimage.distance_transform_edt` with ``sampling = spacing / semi-axis``,
  for margins that are symmetric along every array axis of an axis-aligned grid (or isotropic
  margins on any grid);
* ``"separable"``: for axis-aligned grids and any margin, the exact minimum-convolution of the
  indicator with the separable function :math:`\sum_i g_i(o_i)`, one array axis at a time
  (:math:`g_i(o) = (o s_i / r_i(\operatorname{sign} o))^2`): the squared normalised distance
  is a sum of per-axis terms, so the three-dimensional minimum splits exactly into three
  one-dimensional ones;
* ``"element"``: binary dilation with the structuring element sampled at integer index offsets
  mapped through the grid's direction cosines; the general fallback for oblique grids.
"""

from __future__ import annotations

import math
import re
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

from spinetv.errors import GeometryError, GeometryWarning
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask

__all__ = [
    "MARGIN_ROUNDINGS",
    "MAX_MARGIN_MM",
    "MarginRounding",
    "SIDE_LPS_AXIS",
    "Margin",
    "MarginResult",
    "MarginMethod",
    "PATIENT_SIDES",
    "expand",
    "expand_with_report",
    "round_to_grid",
    "shrink",
    "SURFACE_TOLERANCE",
]

#: The six patient directions, in the order :meth:`Margin.parse` reads six values.
PATIENT_SIDES: tuple[str, ...] = ("left", "right", "anterior", "posterior", "superior", "inferior")

#: A centre counts as inside the margin when its squared normalised distance is <= 1 + this.
SURFACE_TOLERANCE = 1e-6

MarginMethod = Literal["auto", "edt", "separable", "element"]

# (LPS axis, sign) of each patient direction: +x left, +y posterior, +z superior.
_SIDE_AXIS: dict[str, tuple[int, int]] = {
    "left": (0, 1),
    "right": (0, -1),
    "anterior": (1, -1),
    "posterior": (1, 1),
    "superior": (2, 1),
    "inferior": (2, -1),
}
#: Largest margin accepted, in mm: spine SBRT margins are a few mm, and a margin of metres
#: (a typing error) would ask for gigabytes.
MAX_MARGIN_MM = 50.0

#: Patient side -> (LPS axis, sign of the direction along it).
SIDE_LPS_AXIS = _SIDE_AXIS
_MIRROR = {
    "left": "right",
    "right": "left",
    "anterior": "posterior",
    "posterior": "anterior",
    "superior": "inferior",
    "inferior": "superior",
}
# Displacements this small (mm) along a patient axis count as none, so that a zero margin in a
# direction is not defeated by rounding in an oblique grid's direction cosines.
_ZERO_DISPLACEMENT_MM = 1e-9
_THRESHOLD = 1.0 + SURFACE_TOLERANCE


def _fmt(value_mm: float) -> str:
    return f"{value_mm:g}"


@dataclass(frozen=True)
class Margin:
    """A margin in millimetres towards each of the six patient directions.

    Parameters
    ----------
    left_mm, right_mm : float
        Growth towards the patient's left (+x LPS) and right (-x), in mm.
    anterior_mm, posterior_mm : float
        Growth towards anterior (-y LPS) and posterior (+y), in mm.
    superior_mm, inferior_mm : float
        Growth towards superior (+z LPS) and inferior (-z), in mm.

    Raises
    ------
    GeometryError
        When a value is negative, not finite or not a number.
    """

    left_mm: float = 0.0
    right_mm: float = 0.0
    anterior_mm: float = 0.0
    posterior_mm: float = 0.0
    superior_mm: float = 0.0
    inferior_mm: float = 0.0

    def __post_init__(self) -> None:
        for side in PATIENT_SIDES:
            raw = getattr(self, f"{side}_mm")
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise GeometryError(
                    f"margin {side}_mm must be a number of mm, got {raw!r}"
                ) from None
            if not math.isfinite(value) or value < 0:
                raise GeometryError(
                    f"margin {side}_mm must be a finite distance >= 0 mm, got {raw!r}"
                )
            if value > MAX_MARGIN_MM:
                raise GeometryError(
                    f"margin {side}_mm = {value:g} mm is beyond the {MAX_MARGIN_MM:g} mm a "
                    "target or organ margin can sensibly be (a typing error?)"
                )
            object.__setattr__(self, f"{side}_mm", value)

    # ---- construction ---------------------------------------------------------------------
    @classmethod
    def isotropic(cls, mm: float) -> Margin:
        """The same margin of ``mm`` millimetres in every direction (a ball).

        Parameters
        ----------
        mm : float
            The margin towards every patient side, in mm.

        Returns
        -------
        Margin
            The isotropic margin.

        Raises
        ------
        GeometryError
            When a value is negative, not finite, not a number or above
            :data:`MAX_MARGIN_MM` (50 mm).
        """
        return cls(mm, mm, mm, mm, mm, mm)

    @classmethod
    def axial_si(cls, axial_mm: float, si_mm: float) -> Margin:
        """``axial_mm`` left, right, anterior and posterior; ``si_mm`` superior and inferior.

        Parameters
        ----------
        axial_mm : float
            The margin towards left, right, anterior and posterior, in mm.
        si_mm : float
            The margin towards superior and inferior, in mm.

        Returns
        -------
        Margin
            The symmetric margin.

        Raises
        ------
        GeometryError
            When a value is negative, not finite, not a number or above
            :data:`MAX_MARGIN_MM` (50 mm).
        """
        return cls(axial_mm, axial_mm, axial_mm, axial_mm, si_mm, si_mm)

    @classmethod
    def per_axis(cls, lr_mm: float, ap_mm: float, si_mm: float) -> Margin:
        """A symmetric margin given per patient axis: left-right, anterior-posterior, SI (mm).

        Parameters
        ----------
        lr_mm : float
            The margin towards left and towards right, in mm.
        ap_mm : float
            The margin towards anterior and towards posterior, in mm.
        si_mm : float
            The margin towards superior and towards inferior, in mm.

        Returns
        -------
        Margin
            The symmetric margin.

        Raises
        ------
        GeometryError
            When a value is negative, not finite, not a number or above
            :data:`MAX_MARGIN_MM` (50 mm).
        """
        return cls(lr_mm, lr_mm, ap_mm, ap_mm, si_mm, si_mm)

    @classmethod
    def parse(cls, text: str) -> Margin:
        """Read a margin from text of one, two, three or six numbers of mm.

        Numbers are separated by commas and/or spaces; a trailing ``mm`` is allowed.

        * one value ``"3"``: isotropic;
        * two values ``"2,5"``: axial (left, right, anterior, posterior), superior-inferior;
        * three values ``"2,2,5"``: left-right, anterior-posterior, superior-inferior;
        * six values ``"2,5,1,3,7,0"``: left, right, anterior, posterior, superior, inferior.

        Parameters
        ----------
        text : str
            The margin text, values in mm.

        Returns
        -------
        Margin
            The margin read.

        Raises
        ------
        GeometryError
            When the text is not one, two, three or six numbers, or a value is negative, not
            finite or above :data:`MAX_MARGIN_MM` (50 mm).
        """
        cleaned = re.sub(r"\s*mm\s*$", "", str(text).strip(), flags=re.IGNORECASE)
        parts = [p for p in re.split(r"[,\s]+", cleaned) if p]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise GeometryError(
                f"margin {text!r}: expected 1, 2 (axial,SI), 3 (LR,AP,SI) or 6 (L,R,A,P,S,I) "
                "numbers of mm"
            ) from None
        try:
            if len(values) == 1:
                return cls.isotropic(values[0])
            if len(values) == 2:
                return cls.axial_si(*values)
            if len(values) == 3:
                return cls.per_axis(*values)
            if len(values) == 6:
                return cls(*values)
        except GeometryError as error:
            raise GeometryError(f"margin {text!r}: {error}") from None
        raise GeometryError(
            f"margin {text!r}: expected 1, 2 (axial,SI), 3 (LR,AP,SI) or 6 (L,R,A,P,S,I) "
            f"numbers of mm, found {len(values)}"
        )

    # ---- properties -----------------------------------------------------------------------
    def as_tuple(self) -> tuple[float, float, float, float, float, float]:
        """The six values in mm: left, right, anterior, posterior, superior, inferior.

        Returns
        -------
        tuple of 6 float
            The margins in mm, in :data:`PATIENT_SIDES` order.
        """
        return (
            self.left_mm,
            self.right_mm,
            self.anterior_mm,
            self.posterior_mm,
            self.superior_mm,
            self.inferior_mm,
        )

    def towards(self, side: str) -> float:
        """The margin in mm towards a patient side (one of :data:`PATIENT_SIDES`).

        Parameters
        ----------
        side : str
            One of ``"left"``, ``"right"``, ``"anterior"``, ``"posterior"``, ``"superior"``,
            ``"inferior"``.

        Returns
        -------
        float
            The margin towards ``side``, in mm.

        Raises
        ------
        GeometryError
            When ``side`` is not a patient side.
        """
        if side not in _SIDE_AXIS:
            raise GeometryError(f"unknown patient side {side!r}; expected one of {PATIENT_SIDES}")
        return float(getattr(self, f"{side}_mm"))

    def semi_axis_mm(self, lps_axis: int, sign: int) -> float:
        """The margin in mm along LPS axis ``lps_axis`` (0 x, 1 y, 2 z) in direction ``sign``.

        Parameters
        ----------
        lps_axis : int
            0 for x (+ left), 1 for y (+ posterior), 2 for z (+ superior).
        sign : int
            Direction along the axis: positive for +, zero or negative for -.

        Returns
        -------
        float
            The semi-axis in mm (for example ``lps_axis=1, sign=-1`` is the anterior margin).

        Raises
        ------
        GeometryError
            When ``lps_axis`` is not 0, 1 or 2.
        """
        for side, (axis, side_sign) in _SIDE_AXIS.items():
            if axis == lps_axis and side_sign == (1 if sign > 0 else -1):
                return self.towards(side)
        raise GeometryError(f"LPS axis must be 0, 1 or 2, got {lps_axis}")

    @property
    def max_mm(self) -> float:
        """The largest of the six values, in mm."""
        return max(self.as_tuple())

    @property
    def is_zero(self) -> bool:
        """True when the margin is zero in every direction."""
        return self.max_mm == 0.0

    @property
    def is_isotropic(self) -> bool:
        """True when all six values are equal."""
        return len(set(self.as_tuple())) == 1

    @property
    def is_symmetric(self) -> bool:
        """True when opposite directions carry the same value (left = right, etc.)."""
        return (
            self.left_mm == self.right_mm
            and self.anterior_mm == self.posterior_mm
            and self.superior_mm == self.inferior_mm
        )

    def mirrored(self) -> Margin:
        """The margin with every direction swapped for its opposite (the reflected set ``-B``).

        Returns
        -------
        Margin
            Left and right, anterior and posterior, superior and inferior exchanged (mm).
        """
        return Margin(*(self.towards(_MIRROR[side]) for side in PATIENT_SIDES))

    def describe(self) -> str:
        """A short human-readable description, e.g. ``"2 mm axial, 5 mm SI"``.

        Returns
        -------
        str
            ``"no margin"``, an isotropic, axial/SI or per-axis form when the values allow,
            else all six sides ``"L 2 R 5 A 1 P 3 S 7 I 0 mm"``.
        """
        if self.is_zero:
            return "no margin"
        if self.is_isotropic:
            return f"{_fmt(self.left_mm)} mm isotropic"
        if self.is_symmetric:
            if self.left_mm == self.anterior_mm:
                return f"{_fmt(self.left_mm)} mm axial, {_fmt(self.superior_mm)} mm SI"
            return (
                f"LR {_fmt(self.left_mm)} mm, AP {_fmt(self.anterior_mm)} mm, "
                f"SI {_fmt(self.superior_mm)} mm"
            )
        letters = ("L", "R", "A", "P", "S", "I")
        return " ".join(f"{k} {_fmt(v)}" for k, v in zip(letters, self.as_tuple())) + " mm"


MarginRounding = Literal["at_least", "nearest", "at_most"]

#: How a margin is made a whole number of voxels along each patient axis: ``at_least`` (never
#: smaller than asked; the default), ``nearest`` or ``at_most`` (never larger than asked).
MARGIN_ROUNDINGS: tuple[str, ...] = ("at_least", "nearest", "at_most")


def round_to_grid(margin: Margin, grid: ImageGrid, *, rounding: str = "at_least") -> Margin:
    """The margin made a whole number of voxel spacings towards each patient side.

    A margin is exact on voxel centres, so along an axis of spacing ``h`` it moves the mask's
    surface by whole voxels: ``m`` mm reaches ``floor(m / h) * h`` (a 5 mm superior margin on
    3 mm slices reaches 3 mm, a 2 mm one nothing). Rounding the asked margin to whole voxels
    first makes the reach a choice instead of an accident.

    Parameters
    ----------
    margin : Margin
        The asked margin, mm per patient side.
    grid : ImageGrid
        The grid the margin is applied on; each side uses the spacing of the array axis most
        aligned with it (exact on axis-aligned grids).
    rounding : {"at_least", "nearest", "at_most"}, default "at_least"
        ``at_least``: the smallest whole number of voxels reaching at least the asked margin
        (never short); ``nearest``: the nearest whole number (halves round up); ``at_most``:
        the largest whole number not beyond it (never in excess).

    Returns
    -------
    Margin
        Multiples of the spacing (0 stays 0); a rounded value beyond :data:`MAX_MARGIN_MM`
        falls back to the whole number of voxels below it.

    Raises
    ------
    GeometryError
        Unknown ``rounding``.
    """
    if rounding not in MARGIN_ROUNDINGS:
        raise GeometryError(
            f"margin rounding must be one of {', '.join(MARGIN_ROUNDINGS)}, got {rounding!r}"
        )
    values = []
    for side in PATIENT_SIDES:
        lps_axis, _ = _SIDE_AXIS[side]
        spacing = float(grid.spacing_mm[grid.axis_of(lps_axis)[0]])
        voxels = margin.towards(side) / spacing
        if rounding == "at_least":
            whole = math.ceil(voxels - 1e-6)
        elif rounding == "nearest":
            whole = math.floor(voxels + 0.5 + 1e-6)
        else:
            whole = math.floor(voxels + 1e-6)
        if whole * spacing > MAX_MARGIN_MM:
            whole = math.floor(MAX_MARGIN_MM / spacing)
        values.append(round(whole * spacing, 6))
    return Margin(*values)


@dataclass(frozen=True)
class MarginResult:
    """An expanded mask and whether (and where) the image edge cut it.

    Parameters
    ----------
    mask : Mask
        The expansion, restricted to the image.
    clipped : bool
        True when part of the exact expansion lies outside the image.
    clipped_sides : tuple of str
        The patient sides (from :data:`PATIENT_SIDES`, in that order) where it was cut.
    clipped_voxels : int
        How many voxels of the exact expansion lie outside the image.
    clipped_depth_mm : tuple of float
        For each of ``clipped_sides``, how far beyond the image edge the expansion reached, in mm
        (distance along the array axis from the edge voxel centre to the farthest cut centre).
    """

    mask: Mask
    clipped: bool = False
    clipped_sides: tuple[str, ...] = ()
    clipped_voxels: int = 0
    clipped_depth_mm: tuple[float, ...] = ()


# ---- the geometry of a margin on a grid ---------------------------------------------------
def _side_of(vector_lps: NDArray[np.float64]) -> str:
    """The patient side a direction points to most (by its largest LPS component)."""
    axis = int(np.argmax(np.abs(vector_lps)))
    sign = 1 if vector_lps[axis] > 0 else -1
    for side, value in _SIDE_AXIS.items():
        if value == (axis, sign):
            return side
    raise AssertionError("unreachable")  # pragma: no cover


def _array_semi_axes(grid: ImageGrid, margin: Margin) -> tuple[list[float], list[float]]:
    """For an axis-aligned grid: the margin (mm) towards lower and higher index, per axis."""
    negative: list[float] = []
    positive: list[float] = []
    for axis in range(3):
        column = grid.direction[:, axis]
        lps_axis = int(np.argmax(np.abs(column)))
        sign = 1 if column[lps_axis] > 0 else -1
        positive.append(margin.semi_axis_mm(lps_axis, sign))
        negative.append(margin.semi_axis_mm(lps_axis, -sign))
    return negative, positive


def _reach_voxels(distance_mm: float, spacing_mm: float) -> int:
    """The largest whole number of voxels ``k`` with ``(k s / r)^2 <= 1 + tolerance``."""
    if distance_mm == 0.0:
        return 0
    return int(math.floor(distance_mm / spacing_mm * math.sqrt(_THRESHOLD)))


def _reach(grid: ImageGrid, margin: Margin) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """How many voxels the margin can reach towards decreasing and increasing index, per axis."""
    if grid.is_axis_aligned:
        negative, positive = _array_semi_axes(grid, margin)
        return (
            tuple(_reach_voxels(r, s) for r, s in zip(negative, grid.spacing_mm)),
            tuple(_reach_voxels(r, s) for r, s in zip(positive, grid.spacing_mm)),
        )
    # B lies in the ball of radius max_mm, which bounds it along any array axis.
    reach = tuple(_reach_voxels(margin.max_mm, s) for s in grid.spacing_mm)
    return reach, reach


def _normalised_distance_squared(
    displacement_lps_mm: NDArray[np.float64], margin: Margin
) -> NDArray[np.float64]:
    """``sum_a (d_a / r_a(sign d_a))^2`` for displacements of shape (..., 3); inf where r is 0."""
    total = np.zeros(displacement_lps_mm.shape[:-1])
    for axis in range(3):
        d = displacement_lps_mm[..., axis]
        r = np.where(d > 0, margin.semi_axis_mm(axis, 1), margin.semi_axis_mm(axis, -1))
        moving = np.abs(d) > _ZERO_DISPLACEMENT_MM
        with np.errstate(divide="ignore", invalid="ignore"):
            term = np.where(
                moving, np.where(r > 0, (d / np.where(r > 0, r, 1.0)) ** 2, np.inf), 0.0
            )
        total = total + term
    return total


def _sampled_element(grid: ImageGrid, margin: Margin) -> NDArray[np.bool_]:
    """The margin's set sampled at whole index offsets, centred in an odd-sized array."""
    negative, positive = _reach(grid, margin)
    half = [max(n, p) for n, p in zip(negative, positive)]
    offsets = np.stack(
        np.meshgrid(*(np.arange(-h, h + 1) for h in half), indexing="ij"), axis=-1
    ).astype(np.float64)
    displacement = (offsets * np.asarray(grid.spacing_mm)) @ grid.direction.T
    return np.asarray(_normalised_distance_squared(displacement, margin) <= _THRESHOLD)


# ---- the three exact dilation methods on an array -----------------------------------------
def _dilate_edt(
    array: NDArray[np.bool_], grid: ImageGrid, semi_axes_mm: tuple[float, float, float]
) -> NDArray[np.bool_]:
    sampling = [s / r for s, r in zip(grid.spacing_mm, semi_axes_mm)]
    # The transform gives, for every voxel, the scaled distance to the nearest voxel of the
    # input (the zeros of its argument); squaring avoids a square root in the comparison.
    distance = ndimage.distance_transform_edt(~array, sampling=sampling)
    return np.asarray(distance * distance <= _THRESHOLD)


def _dilate_separable(
    array: NDArray[np.bool_],
    grid: ImageGrid,
    negative_mm: list[float],
    positive_mm: list[float],
) -> NDArray[np.bool_]:
    # The exact squared normalised distance to the input, one axis at a time; offsets whose own
    # term already exceeds the threshold cannot contribute and are skipped.
    field = np.where(array, 0.0, np.inf)
    for axis, spacing in enumerate(grid.spacing_mm):
        result = field.copy()
        for sign, radius in ((1, positive_mm[axis]), (-1, negative_mm[axis])):
            for k in range(1, _reach_voxels(radius, spacing) + 1):
                cost = (k * spacing / radius) ** 2
                target = [slice(None)] * 3
                source = [slice(None)] * 3
                if sign > 0:  # a centre k voxels further along the axis than an input centre
                    target[axis], source[axis] = slice(k, None), slice(None, -k)
                else:
                    target[axis], source[axis] = slice(None, -k), slice(k, None)
                view = result[tuple(target)]
                np.minimum(view, field[tuple(source)] + cost, out=view)
        field = result
    return np.asarray(field <= _THRESHOLD)


def _dilate_element(array: NDArray[np.bool_], grid: ImageGrid, margin: Margin) -> NDArray[np.bool_]:
    element = _sampled_element(grid, margin)
    return np.asarray(ndimage.binary_dilation(array, structure=element))


def _choose_method(grid: ImageGrid, margin: Margin, method: MarginMethod) -> MarginMethod:
    aligned = grid.is_axis_aligned
    edt_ok = margin.is_isotropic or (aligned and margin.is_symmetric and min(margin.as_tuple()) > 0)
    if method == "auto":
        # On the cropped box the separable minimum-convolution is 3-4x faster than the EDT
        # (7 ms against 30 ms for 50 cc + 2/5 mm on 1 mm voxels), so the EDT serves oblique grids.
        if aligned:
            return "separable"
        return "edt" if edt_ok else "element"
    if method == "edt" and not edt_ok:
        raise GeometryError(
            f"method 'edt' needs an isotropic margin, or a symmetric non-zero margin on an "
            f"axis-aligned grid; got {margin.describe()} on {grid.describe()}"
        )
    if method == "separable" and not aligned:
        raise GeometryError(
            f"method 'separable' needs an axis-aligned grid, got the oblique {grid.describe()}"
        )
    if method not in ("edt", "separable", "element"):
        raise GeometryError(
            f"margin method must be 'auto', 'edt', 'separable' or 'element', got {method!r}"
        )
    return method


def _dilate_in_array(
    array: NDArray[np.bool_], grid: ImageGrid, margin: Margin, method: MarginMethod
) -> NDArray[np.bool_]:
    """The exact dilation of ``array`` (on ``grid``'s spacing and direction) kept in the array."""
    chosen = _choose_method(grid, margin, method)
    if chosen == "edt":
        if grid.is_axis_aligned:
            negative, positive = _array_semi_axes(grid, margin)
            semi = (positive[0], positive[1], positive[2])
        else:
            semi = (margin.max_mm, margin.max_mm, margin.max_mm)
        return _dilate_edt(array, grid, semi)
    if chosen == "separable":
        negative, positive = _array_semi_axes(grid, margin)
        return _dilate_separable(array, grid, negative, positive)
    return _dilate_element(array, grid, margin)


def _virtual_box(
    box: BoundingBox, before: tuple[int, ...], after: tuple[int, ...]
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """A box grown by ``before``/``after`` voxels, not clipped: it may reach outside the image."""
    start = (box.start[0] - before[0], box.start[1] - before[1], box.start[2] - before[2])
    stop = (box.stop[0] + after[0], box.stop[1] + after[1], box.stop[2] + after[2])
    return start, stop


def _expand(
    mask: Mask,
    margin: Margin,
    method: MarginMethod,
    name: str,
    warn: bool,
    stacklevel: int,
) -> MarginResult:
    if margin.is_zero or mask.is_empty:
        return MarginResult(mask)
    grid = mask.grid
    before, after = _reach(grid, margin)
    start, stop = _virtual_box(mask.box, before, after)
    shape = tuple(b - a for a, b in zip(start, stop))
    work = np.zeros(shape, dtype=bool)
    inner = tuple(slice(n, n + s) for n, s in zip(before, mask.box.shape))
    work[inner] = mask.box_array
    grown = _dilate_in_array(work, grid, margin, method)

    # The part of the virtual box inside the image.
    lo = [max(0, -a) for a in start]
    hi = [w - max(0, b - n) for w, b, n in zip(shape, stop, grid.shape)]
    kept = grown[lo[0] : hi[0], lo[1] : hi[1], lo[2] : hi[2]]
    kept_box = BoundingBox(
        (start[0] + lo[0], start[1] + lo[1], start[2] + lo[2]),
        (start[0] + hi[0], start[1] + hi[1], start[2] + hi[2]),
    )
    result = Mask.from_box(grid, kept_box, kept)
    clipped_voxels = int(np.count_nonzero(grown)) - result.voxel_count
    if clipped_voxels == 0:
        return MarginResult(result)

    depth_mm: dict[str, float] = {}
    depth_voxels: dict[str, int] = {}
    occupied_axes = [grown.any(axis=tuple(a for a in range(3) if a != axis)) for axis in range(3)]
    for axis in range(3):
        occupied = np.flatnonzero(occupied_axes[axis])
        column = grid.direction[:, axis]
        spacing = grid.spacing_mm[axis]
        low_cut = lo[axis] - int(occupied[0])
        high_cut = int(occupied[-1]) + 1 - hi[axis]
        for cut, vector in ((low_cut, -column), (high_cut, column)):
            if cut > 0:
                side = _side_of(vector)
                if cut * spacing > depth_mm.get(side, 0.0):
                    depth_mm[side] = round(cut * spacing, 6)
                    depth_voxels[side] = cut
    sides = tuple(side for side in PATIENT_SIDES if side in depth_mm)
    if warn:
        where = "; ".join(
            f"{side} side by up to {depth_mm[side]:g} mm ({depth_voxels[side]} voxels)"
            for side in sides
        )
        warnings.warn(
            f"expanding {name} by {margin.describe()} reaches beyond the image on the {where}; "
            f"{clipped_voxels} voxels of the expansion were cut at the image edge",
            GeometryWarning,
            stacklevel=stacklevel,
        )
    return MarginResult(
        result, True, sides, clipped_voxels, tuple(depth_mm[side] for side in sides)
    )


# ---- public functions ---------------------------------------------------------------------
def expand_with_report(
    mask: Mask,
    margin: Margin,
    *,
    method: MarginMethod = "auto",
    name: str = "mask",
    warn: bool = True,
) -> MarginResult:
    """Grow a mask by an exact margin and report whether the image edge cut the result.

    Parameters
    ----------
    mask : Mask
        The mask to grow (not modified).
    margin : Margin
        Distances in mm towards each patient direction (see the module notes for the exact set).
    method : {"auto", "edt", "separable", "element"}, optional
        Which exact algorithm to use; ``"auto"`` picks the fastest that applies. All give the
        same voxels.
    name : str, optional
        What to call the mask in a warning.
    warn : bool, optional
        Emit a :class:`GeometryWarning` when the result is cut by the image edge (default True).

    Returns
    -------
    MarginResult
        The grown mask (within the image) and how much of the exact result fell outside.

    Warns
    -----
    GeometryWarning
        When part of the exact expansion lies outside the image, naming the patient sides, the
        depth in mm and voxels, and the number of voxels cut.
    """
    return _expand(mask, margin, method, name, warn, stacklevel=3)


def expand(
    mask: Mask, margin: Margin, *, method: MarginMethod = "auto", name: str = "mask"
) -> Mask:
    """Grow a mask by an exact (ellipsoidal, possibly asymmetric) margin.

    Parameters
    ----------
    mask : Mask
        The mask to grow (not modified).
    margin : Margin
        Distances in mm towards each patient direction.
    method : {"auto", "edt", "separable", "element"}, optional
        The exact algorithm (see the module notes); all give the same voxels.
    name : str, optional
        What to call the mask in a warning.

    Returns
    -------
    Mask
        The voxels whose centres lie within the margin of a centre of the mask, within the
        image. A zero margin or an empty mask returns ``mask`` itself.

    Warns
    -----
    GeometryWarning
        When the image edge cuts the expansion; use :func:`expand_with_report` to get the
        details as values.
    """
    return _expand(mask, margin, method, name, True, stacklevel=3).mask


def shrink(mask: Mask, margin: Margin, *, method: MarginMethod = "auto") -> Mask:
    """Shrink a mask by an exact margin (the Minkowski difference, or erosion, by its set).

    A voxel is kept when every centre within the margin of its own centre is in the mask;
    voxels outside the image count as outside the mask, so a mask touching the image edge
    shrinks away from it too. Equivalently ``shrink(x, m)`` is the complement of
    ``expand(complement(x), m.mirrored())``; for a symmetric margin the mirror changes nothing.
    The side a margin names is the side of the mask that moves inwards.

    Parameters
    ----------
    mask : Mask
        The mask to shrink (not modified).
    margin : Margin
        Distances in mm towards each patient direction.
    method : {"auto", "edt", "separable", "element"}, optional
        The exact algorithm; all give the same voxels.

    Returns
    -------
    Mask
        A subset of ``mask``; ``mask`` itself for a zero margin or an empty mask.
    """
    if margin.is_zero or mask.is_empty:
        return mask
    grid = mask.grid
    mirrored = margin.mirrored()
    # The complement is grown with the mirrored set; one extra voxel of (virtual) outside on
    # every side guarantees the complement is never empty, even for a mask filling its box.
    reach_before, reach_after = _reach(grid, margin)
    before = tuple(b + 1 for b in reach_before)
    after = tuple(a + 1 for a in reach_after)
    start, stop = _virtual_box(mask.box, before, after)
    shape = tuple(b - a for a, b in zip(start, stop))
    work = np.zeros(shape, dtype=bool)
    inner = tuple(slice(n, n + s) for n, s in zip(before, mask.box.shape))
    work[inner] = mask.box_array
    outside_grown = _dilate_in_array(~work, grid, mirrored, method)
    kept = (work & ~outside_grown)[inner]
    return Mask.from_box(grid, mask.box, kept)
