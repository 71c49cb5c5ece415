"""Implicit anatomical primitives of the phantom, evaluated in a vertebra's local frame.

Every function takes local coordinates in mm: ``u`` lateral (+ patient left), ``v``
antero-posterior (+ posterior, 0 on the canal centreline), ``w`` along the centreline (+
superior, 0 at the level's centre), and returns a boolean array of the same shape.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from spinetv.phantom._dims import LevelDims

__all__ = [
    "body",
    "vertebra_bone",
    "sacral_segment_bone",
    "sacral_foramina",
    "label_parts",
]

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

_BODY_POSTERIOR_EXPONENT = 4.0  # a flat posterior body wall with rounded corners
_LINING_MM = 2.0  # thickness of the bony shell lining the front half of the canal
# Voxel centres within this distance of a sector wall count as beyond it (posterior, lateral):
# the same tie rule as spinetv.anatomy.sectors, so a row of voxels lying on the wall of an
# axis-aligned grid goes to the same side in the ground truth and in the labelling.
TIE_MM = 1e-6


def _segment_distance(
    px: FloatArray, py: FloatArray, a: tuple[float, float], b: tuple[float, float]
) -> FloatArray:
    """Distance in a plane from points (px, py) to the segment a-b."""
    ax, ay = a
    bx, by = b
    dx, dy = bx - ax, by - ay
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        return np.hypot(px - ax, py - ay)
    t = np.clip(((px - ax) * dx + (py - ay) * dy) / length2, 0.0, 1.0)
    return np.hypot(px - (ax + t * dx), py - (ay + t * dy))


def _tube(
    in_plane_distance: FloatArray, dw: FloatArray, radius_in: float, radius_w: float
) -> BoolArray:
    """Inside an elliptic tube: in-plane distance and SI offset scaled by their radii."""
    return (in_plane_distance / radius_in) ** 2 + (dw / radius_w) ** 2 <= 1.0


def body(
    u: FloatArray,
    v: FloatArray,
    w: FloatArray,
    *,
    width: float | FloatArray,
    depth: float | FloatArray,
    height: float,
    posterior_wall: float | FloatArray,
    waist: float,
    w_range: tuple[float, float] | None = None,
) -> BoolArray:
    """A vertebral body: elliptic in front, flat-backed behind, with a concave waist.

    The posterior wall lies at ``v = posterior_wall`` (the canal's anterior wall).
    """
    half_w = np.asarray(width) / 2.0
    half_d = np.asarray(depth) / 2.0
    centre_v = np.asarray(posterior_wall) - half_d
    squeeze = 1.0 - waist * (1.0 - np.clip(2.0 * w / height, -1.0, 1.0) ** 2)
    du = np.abs(u) / (half_w * squeeze)
    dv = (v - centre_v) / half_d
    front = dv < 0
    dv_scaled = np.where(front, np.abs(dv) / squeeze, np.abs(dv))
    exponent = np.where(front, 2.0, _BODY_POSTERIOR_EXPONENT)
    inside = du**exponent + dv_scaled**exponent <= 1.0
    low, high = w_range if w_range is not None else (-height / 2.0, height / 2.0)
    return inside & (w >= low) & (w < high)


def vertebra_bone(
    u: FloatArray,
    v: FloatArray,
    w: FloatArray,
    dims: LevelDims,
    canal_half_width: FloatArray,
    canal_half_depth: FloatArray,
) -> BoolArray:
    """The solid bone of a C1-L5 vertebra (the canal is carved out by the caller).

    Built from a body, two pedicles (tubes from the body's posterolateral corners to the arch),
    a shell lining the front half of the canal at the pedicles' height, a posterior arch
    (elliptic ring around the back half of the canal), transverse processes, a caudally
    tilted spinous process and, for cervical levels, articular pillars.
    """
    d = dims
    wc = float(np.median(canal_half_width))
    dc = float(np.median(canal_half_depth))
    a_wall = -canal_half_depth
    bone = body(
        u,
        v,
        w,
        width=d.body_width,
        depth=d.body_depth,
        height=d.body_height,
        posterior_wall=a_wall,
        waist=d.body_waist,
    )
    # Pedicles: from inside the body's posterolateral corner back to the arch.
    r_ped = d.pedicle_width / 2.0
    ped_w = d.body_height / 2.0 - d.pedicle_height / 2.0 - 1.0
    root_u = min(d.body_width / 2.0 - r_ped, wc + r_ped)
    end_u = wc + r_ped
    for side in (1.0, -1.0):
        dist = _segment_distance(u, v, (side * root_u, -dc - 2.0), (side * end_u, 1.0))
        bone |= _tube(dist, w - ped_w, r_ped, d.pedicle_height / 2.0)
    # The bony ring lines the canal at the pedicles' height: a shell around the front half of
    # the canal fills the lateral recesses and the lens between the flat back of the body and
    # the elliptic canal, so the canal is exactly the space the ring encloses.
    shell = (u / (canal_half_width + _LINING_MM)) ** 2 + (
        v / (canal_half_depth + _LINING_MM)
    ) ** 2 <= 1.0
    bone |= shell & (v <= 0.0) & (np.abs(w - ped_w) <= d.pedicle_height / 2.0)
    # Posterior arch (laminae): a ring behind the canal's centre.
    outer_u = canal_half_width + d.pedicle_width
    outer_v = canal_half_depth + d.lamina_thickness
    ring = (u / outer_u) ** 2 + (v / outer_v) ** 2 <= 1.0
    bone |= ring & (v >= 0.0) & (np.abs(w - d.lamina_offset) <= d.lamina_height / 2.0)
    # Transverse processes from the pedicle-lamina junction.
    tp_root = wc + r_ped
    tp_tip = max(d.tp_span / 2.0 - d.tp_thickness / 2.0, tp_root + 1.0)
    tp_tip_v = d.tp_offset + (tp_tip - tp_root) * np.tan(np.radians(d.tp_angle_deg))
    for side in (1.0, -1.0):
        dist = _segment_distance(u, v, (side * tp_root, d.tp_offset), (side * tp_tip, tp_tip_v))
        bone |= _tube(dist, w - ped_w, d.tp_thickness / 2.0, d.tp_height / 2.0)
    # Spinous process: a flattened tube in the mid-sagittal plane, tilted caudally.
    start_v = dc + d.lamina_thickness / 2.0
    start_w = d.lamina_offset
    tilt = np.radians(d.spinous_tilt_deg)
    tip = (start_v + d.spinous_length * np.cos(tilt), start_w - d.spinous_length * np.sin(tilt))
    dist = _segment_distance(v, w, (start_v, start_w), tip)
    bone |= _tube(dist, u, d.spinous_height / 2.0, d.spinous_thickness / 2.0) & (v >= dc)
    if d.articular_pillar:
        pillar_u = wc + 0.6 * d.pedicle_width + 1.0
        radius = max(d.pedicle_width, 5.0)
        for side in (1.0, -1.0):
            column = np.hypot(u - side * pillar_u, v - 3.0) <= radius
            bone |= column & (np.abs(w) <= d.body_height / 2.0 + 1.0)
    return bone


def sacral_segment_bone(
    u: FloatArray,
    v: FloatArray,
    w: FloatArray,
    dims: LevelDims,
    *,
    body_width: FloatArray,
    body_depth: FloatArray,
    ala_half_width: FloatArray,
    lamina_thickness: FloatArray,
    canal_half_width: FloatArray,
    canal_half_depth: FloatArray,
    hiatus: bool,
) -> BoolArray:
    """The solid bone of one sacral segment, within its slab ``-h/2 <= w < h/2``.

    A body, a lateral mass (alae and lateral parts, a rounded block reaching from the middle of
    the body to behind the canal) and a median crest tubercle. At the hiatus the roof of the
    canal is left open. Dimensions that vary along the sacrum are given per voxel.
    """
    half_h = dims.body_height / 2.0
    in_slab = (w >= -half_h) & (w < half_h)
    a_wall = -canal_half_depth
    bone = body(
        u,
        v,
        w,
        width=body_width,
        depth=body_depth,
        height=dims.body_height,
        posterior_wall=a_wall,
        waist=0.0,
        w_range=(-half_h, half_h),
    )
    front = a_wall - 0.5 * body_depth
    back = canal_half_depth + lamina_thickness
    centre = 0.5 * (front + back)
    half_ap = 0.5 * (back - front)
    mass = (np.abs(u) / ala_half_width) ** 2.5 + (np.abs(v - centre) / half_ap) ** 2.5 <= 1.0
    bone |= mass & in_slab
    if hiatus:
        bone &= ~((np.abs(u) <= canal_half_width + 1.0) & (v > 0.0))
    elif dims.crest > 0:
        crest = (np.abs(u) <= 3.5) & (v >= back - 2.0) & (v <= back + dims.crest)
        bone |= crest & (np.abs(w) <= half_h - 3.0)
    return bone


def sacral_foramina(
    u: FloatArray,
    v: FloatArray,
    s: FloatArray,
    *,
    boundary_s: float,
    radius: float,
    body_half_width: float,
    canal_half_width: float,
) -> BoolArray:
    """The anterior and posterior sacral foramina (both sides) at one segment border.

    Tubes run antero-posteriorly just lateral to the body (anterior foramina) and lateral to
    the canal (posterior foramina), joined to the canal by a lateral channel.
    """
    dw = s - boundary_s
    anterior_u = body_half_width + radius
    posterior_u = canal_half_width + radius + 2.0
    holes = np.zeros(np.broadcast(u, v, s).shape, dtype=bool)
    for side in (1.0, -1.0):
        holes |= (np.hypot(u - side * anterior_u, dw) <= radius) & (v <= 0.0)
        holes |= (np.hypot(u - side * posterior_u, dw) <= radius) & (v >= -radius)
    reach = max(anterior_u, posterior_u)
    holes |= (np.hypot(v, dw) <= radius) & (np.abs(u) <= reach)
    return holes


def label_parts(
    u: FloatArray,
    v: FloatArray,
    bone: BoolArray,
    canal_half_width: FloatArray,
    canal_half_depth: FloatArray,
    *,
    body_half_width: FloatArray | float | None = None,
) -> NDArray[np.uint8]:
    """Sector (1-6) of every bone voxel by the geometric rule; 0 outside ``bone``.

    With the canal's anterior wall ``a = -d``, centre ``c = 0``, posterior wall ``p = +d`` and
    half-width ``w`` (all at the voxel's position along the centreline):

    * ``v < a`` and ``|u| <= body_half_width``: 1 (body) -- bone in front of the canal but
      lateral to the body (an anterolateral transverse process, a sacral ala) is not body;
    * ``v < c`` (otherwise): 2 if ``u > 0`` else 6 (pedicles; sacrum: alae);
    * ``v > p`` and ``|u| <= w``: 4 (spinous process; sacrum: median crest);
    * the rest: 3 if ``u > 0`` else 5 (transverse process and lamina).

    ``body_half_width`` None: no lateral limit (C1, whose anterior arch is its "body").
    A point within :data:`TIE_MM` of ``a`` or ``c`` counts as posterior to it.
    """
    left = u > 0
    sector = np.where(left, np.uint8(3), np.uint8(5))
    sector = np.where((v > canal_half_depth) & (np.abs(u) <= canal_half_width), np.uint8(4), sector)
    sector = np.where(v < -TIE_MM, np.where(left, np.uint8(2), np.uint8(6)), sector)
    body_zone = v < -canal_half_depth - TIE_MM
    if body_half_width is not None:
        body_zone &= np.abs(u) <= body_half_width
    sector = np.where(body_zone, np.uint8(1), sector)
    return np.where(bone, sector, np.uint8(0)).astype(np.uint8)
