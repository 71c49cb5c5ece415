"""A second, independent cervical model for the sector tests (C3-C7-like, not spinetv.phantom).

Each vertebra is written in its local frame (``u`` towards the patient's left, ``v``
posterior, ``s`` superior; mm, origin on the canal's centre) from a few analytic shapes with
the proportions of a mid-cervical vertebra (C5: body about 20 x 15 x 13 mm, canal 24 x 14 mm):

* a small, wide **body** (flat posterior wall at ``v = A``, rounded front) and two
  **uncinate processes** rising 3 mm above its upper endplate at its posterolateral corners;
* a canal shaped like a rounded triangle: widest (24 mm) just behind the body, its apex
  behind, where the laminae meet;
* short **pedicles** (tubes 5.2 mm thick) running posterolaterally at about 30 deg to the
  sagittal plane from the end of the body's posterior wall to the articular pillars;
* **transverse processes** beside the pedicles: a ring of bone around the **transverse
  foramen** (a hole 6 mm wide running SI), an anterior bar from the side of the body to the
  anterior tubercle and a posterior bar from the pedicle-pillar junction to the posterior
  tubercle;
* **articular pillars** (lateral masses) behind the pedicles, taller than the body;
* thin (3 mm) **laminae** from the pillars to the midline, and a caudally tilted, **bifid
  spinous process**.

Ground truth (independent of spinetv's rule): every bone voxel takes the sector of the part
it belongs to -- 1 body and uncinate processes; 2/6 pedicles; 3/5 transverse processes
(with the walls of the foramen), pillars and laminae; 4 spinous process. Where two parts
touch, the junction is a stated convention (anatomy does not draw one there):

* the pedicle begins at the level of the body's posterior wall and ends at the articular
  pillar, whose front lies at the canal's mid-depth ``C``;
* the transverse process begins at the medial edge of its foramen: the foramen's medial wall
  is the pedicle's lateral cortex (bone of the ring medial to the foramen and behind ``A``
  is pedicle), and pedicle bone lateral to that edge is transverse process;
* the spinous process begins at the canal's posterior wall: the junction of the laminae
  behind the canal's apex (within the canal's width) is its root.

**C2 (axis)** is such a vertebra without uncinate processes, with the **dens**: a peg 9 mm
thick (a cylinder with a rounded tip) rising 15 mm from the front of the body's upper
endplate into the ring of C1, whose centre lies 5.5 mm in front of the canal's anterior wall.
Truth: the dens belongs to the body (sector 1); the rest as above.

**C1 (atlas)** has no body. It is a ring round the dens and the canal:

* an **anterior arch**: a bar (5 mm thick, 10 mm tall) bent round the front of the dens,
  1 mm from it, with an anterior tubercle at its middle, its ends joining the fronts of the
  lateral masses;
* two **lateral masses** (ellipsoids 12 mm wide, 17 mm deep, 15 mm tall) beside the dens and
  the front half of the canal, from the arch to the canal's mid-depth ``C``;
* **transverse processes** beyond them, each a ring of bone round a **transverse foramen**
  whose medial wall is the lateral mass, and a bar to its tip (C1's are the longest of the
  cervical spine);
* a **posterior arch**: a bar (5 mm thick) from the back of each lateral mass round the
  canal, against its posterior wall, to a posterior tubercle in the midline.

Truth (the ISRC labels at C1): the anterior arch is sector 1; the lateral masses are 2 (left)
and 6 (right); the transverse processes (with the walls of their foramina) and the posterior
arch are 3/5, except the posterior arch behind the canal's apex within the canal's width,
which is 4 (the posterior tubercle is a rudimentary spinous process; the same convention as
the laminae's junction above). Where parts touch, the junction is a stated convention: the
lateral mass has the bone, the posterior arch begins at its surface, the anterior arch is the
bar's bone between the lateral masses (medial to their innermost point, |u| < 9.5 mm; its
ends beyond, in front of the masses, are lateral mass), and the transverse process begins
at its foramen's medial edge, on the lateral mass's surface (as at C3-C7).

The column (vertebrae 18 mm apart, discs between them; the dens of C2 rises into C1's ring)
is tilted in the sagittal plane, rotated axially and voxelised on a grid of any patient
orientation; the canal and cord run on to the grid's edge. ``carotid_tubercle`` adds a
C6-like anterior tubercle reaching deeper than half the body's depth in front of the canal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from _anatomy_synthetic import _rotation
from numpy.typing import NDArray

from spinetv.geometry import ImageGrid, Mask

FloatArray = NDArray[np.float64]

# Canal walls of the model (mm): anterior A (the body's posterior wall), posterior P (the
# apex between the laminae), mid-depth C, lateral half-width W (reached at v = -2).
A_MM, P_MM, C_MM, W_MM = -7.0, 7.0, 0.0, 12.0
PITCH_MM = 18.0
FORAMEN_U_MM, FORAMEN_V_MM, FORAMEN_RADIUS_MM = 18.0, -6.5, 3.0
BODY_HALF_WIDTH_MM = 10.0
# C2's dens: a peg of this radius round (0, DENS_V_MM), from the body's upper endplate up to
# DENS_TOP_MM above C2's centre (mm).
DENS_V_MM, DENS_RADIUS_MM, DENS_TOP_MM = -12.5, 4.5, 21.5
# C1: lateral masses round (+-15.5, -9) mm (6 x 8.5 x 7.5 mm semi-axes); transverse foramina
# round (+-24.2, -7.5) mm, their medial edge (21.4 mm) on the lateral mass's surface.
C1_MASS_U_MM, C1_MASS_V_MM, C1_MASS_HALF_WIDTH_MM = 15.5, -9.0, 6.0
C1_FORAMEN_U_MM, C1_FORAMEN_V_MM, C1_FORAMEN_RADIUS_MM = 24.2, -7.5, 2.8

ORIENTATIONS = {
    "HFS": np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]], dtype=float),
    "FFS": np.array([[0, 0, -1], [0, 1, 0], [-1, 0, 0]], dtype=float),
    "HFP": np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float),
    "FFP": np.array([[0, 0, 1], [0, -1, 0], [-1, 0, 0]], dtype=float),
}


@dataclass(frozen=True)
class CervicalColumn:
    """The voxelised model: vertebrae, true sectors, canal and cord on one grid."""

    grid: ImageGrid
    vertebrae: dict[str, Mask]
    truth: dict[str, dict[int, Mask]]
    canal: Mask
    cord: Mask


def _segment_distance(
    x: FloatArray, y: FloatArray, start: tuple[float, float], end: tuple[float, float]
) -> FloatArray:
    """Distance of points (x, y) to the segment start-end, in the plane."""
    sx, sy = start
    dx, dy = end[0] - sx, end[1] - sy
    t = np.clip(((x - sx) * dx + (y - sy) * dy) / (dx * dx + dy * dy), 0.0, 1.0)
    return np.asarray(np.hypot(x - sx - t * dx, y - sy - t * dy), dtype=np.float64)


def _segment_distance_3d(
    points: tuple[FloatArray, FloatArray, FloatArray],
    start: tuple[float, float, float],
    end: tuple[float, float, float],
) -> FloatArray:
    p = np.stack(points, axis=-1)
    s0, s1 = np.asarray(start), np.asarray(end)
    d = s1 - s0
    t = np.clip(((p - s0) @ d) / float(d @ d), 0.0, 1.0)
    return np.asarray(np.linalg.norm(p - s0 - t[..., None] * d, axis=-1), dtype=np.float64)


def canal_section(u: FloatArray, v: FloatArray) -> NDArray[np.bool_]:
    """The canal's cross-section: flat in front (the body), widest at v = -2, apex at P."""
    return (v >= A_MM) & ((u / W_MM) ** 2 + ((v + 2.0) / 9.0) ** 2 <= 1.0)


def vertebra_parts(
    u: FloatArray, v: FloatArray, s: FloatArray, *, carotid_tubercle: bool = False
) -> dict[str, NDArray[np.bool_]]:
    """The bone of each part of one vertebra (parts overlap; the canal and foramina are
    carved out here), at local points (mm). ``carotid_tubercle``: a C6-like anterior
    tubercle, reaching deeper than half the body's depth in front of the canal."""
    au = np.abs(u)
    body = (au <= BODY_HALF_WIDTH_MM) & (v >= -22.0) & (v <= A_MM) & (np.abs(s) <= 6.5)
    # A rounded front: a superellipse over the anterior half.
    front = v < -14.5
    body &= ~front | ((au / BODY_HALF_WIDTH_MM) ** 4 + ((v + 14.5) / 7.5) ** 4 <= 1.0)
    uncinate = (au >= 7.5) & (au <= BODY_HALF_WIDTH_MM) & (v >= -16.0) & (v <= A_MM)
    uncinate &= (s > 6.5) & (s <= 6.5 + 3.0 * np.clip((v + 19.0) / 8.0, 0.0, 1.0))
    # Pedicles: from the end of the body's posterior wall, posterolaterally to the pillars.
    pedicle = (_segment_distance(au, v, (9.0, -7.5), (14.0, 0.5)) <= 2.6) & (v >= A_MM)
    pedicle &= (s >= -3.0) & (s <= 4.0)
    pillar = ((au - 15.5) / 5.0) ** 2 + ((v - 4.5) / 4.5) ** 2 <= 1.0
    pillar &= np.abs(s) <= 8.5
    radius = np.hypot(au - FORAMEN_U_MM, v - FORAMEN_V_MM)
    transverse = radius <= FORAMEN_RADIUS_MM + 2.0
    # The anterior root (costal element) on the side of the body, ending in the anterior
    # tubercle; it bounds the foramen in front and medially.
    transverse |= (au >= 9.0) & (au <= 14.0) & (v >= -11.0) & (v <= A_MM)
    transverse |= _segment_distance(au, v, (9.5, -10.0), (18.0, -11.5)) <= 1.7
    transverse |= np.hypot(au - 21.0, v + 12.0) <= 2.3
    transverse |= _segment_distance(au, v, (14.5, -1.5), (22.5, -3.5)) <= 1.7
    transverse |= np.hypot(au - 23.5, v + 3.5) <= 2.2
    if carotid_tubercle:
        transverse |= _segment_distance(au, v, (17.0, -11.0), (20.5, -14.0)) <= 1.7
        transverse |= np.hypot(au - 20.5, v + 14.0) <= 2.3
    transverse &= (s >= -3.0) & (s <= 3.5)
    lamina = (_segment_distance(au, v, (12.5, 4.0), (0.0, 8.2)) <= 1.6) & (np.abs(s) <= 5.5)
    stem = _segment_distance_3d((u, v, s), (0.0, 8.0, 0.0), (0.0, 16.0, -2.5)) <= 2.3
    prongs = _segment_distance_3d((au, v, s), (0.0, 16.0, -2.5), (3.5, 21.0, -4.0)) <= 1.8
    holes = canal_section(u, v) | (radius < FORAMEN_RADIUS_MM)
    parts = {
        "body": body | uncinate,
        "pedicle": pedicle,
        "pillar": pillar,
        "transverse": transverse,
        "lamina": lamina,
        "spinous": stem | prongs,
    }
    return {name: mask & ~holes for name, mask in parts.items()}


def true_sectors(
    u: FloatArray, v: FloatArray, s: FloatArray, *, carotid_tubercle: bool = False
) -> NDArray[np.uint8]:
    """True sector (0 outside the bone) at local points, from the parts and the stated
    junction conventions (module docstring)."""
    return _sectors_of(vertebra_parts(u, v, s, carotid_tubercle=carotid_tubercle), u, v)


def _sectors_of(
    parts: dict[str, NDArray[np.bool_]], u: FloatArray, v: FloatArray
) -> NDArray[np.uint8]:
    """True sectors of a C2-C7 vertebra from its parts (see :func:`vertebra_parts`)."""
    side_lateral = np.where(u > 0, 2, 6)
    side_posterior = np.where(u > 0, 3, 5)
    au = np.abs(u)
    medial_to_foramen = au < FORAMEN_U_MM - FORAMEN_RADIUS_MM
    truth = np.zeros(u.shape, dtype=np.uint8)
    # Lowest priority first; later parts overwrite.
    tp = parts["transverse"]
    tp_pedicle = tp & (v >= A_MM) & (v < C_MM) & medial_to_foramen
    truth[tp] = side_posterior[tp]
    truth[tp_pedicle] = side_lateral[tp_pedicle]
    lamina = parts["lamina"]
    truth[lamina] = np.where((v > P_MM) & (au <= W_MM), 4, side_posterior)[lamina]
    spinous = parts["spinous"]
    truth[spinous] = 4
    pillar = parts["pillar"]
    truth[pillar] = side_posterior[pillar]
    pedicle = parts["pedicle"]
    own = pedicle & (v < C_MM) & medial_to_foramen
    truth[pedicle] = side_posterior[pedicle]
    truth[own] = side_lateral[own]
    body = parts["body"]
    truth[body] = 1
    return truth


def axis_parts(u: FloatArray, v: FloatArray, s: FloatArray) -> dict[str, NDArray[np.bool_]]:
    """The bone of each part of C2 at local points (mm): a mid-cervical vertebra without
    uncinate processes, and the dens rising from the front of its body."""
    parts = vertebra_parts(u, v, s)
    au = np.abs(u)
    parts["body"] = parts["body"] & ~((s > 6.5) & (au >= 7.5))
    peg = np.hypot(u, v - DENS_V_MM)
    tip = DENS_TOP_MM - DENS_RADIUS_MM
    dens = (peg <= DENS_RADIUS_MM) & (s > 6.0) & (s <= tip)
    dens |= np.sqrt(peg**2 + (s - tip) ** 2) <= DENS_RADIUS_MM
    parts["dens"] = dens
    return parts


def atlas_parts(u: FloatArray, v: FloatArray, s: FloatArray) -> dict[str, NDArray[np.bool_]]:
    """The bone of each part of C1 at local points (mm); the canal and the foramina are
    carved out, and the dens's space (1 mm round the dens) is left free."""
    au = np.abs(u)
    # The anterior arch: a bar bent round the dens, 1 mm in front of it.
    around_dens = np.hypot(u, v - DENS_V_MM)
    anterior = (around_dens >= DENS_RADIUS_MM + 1.0) & (around_dens <= DENS_RADIUS_MM + 6.0)
    anterior &= v <= DENS_V_MM - 2.0
    # Its ends join the front of the lateral masses.
    anterior |= _segment_distance(au, v, (8.5, -16.5), (12.5, -14.5)) <= 2.0
    anterior &= np.abs(s) <= 5.0
    anterior |= ((u / 3.0) ** 2 + ((v + 23.0) / 2.0) ** 2 + (s / 4.0) ** 2) <= 1.0
    mass = (
        ((au - C1_MASS_U_MM) / C1_MASS_HALF_WIDTH_MM) ** 2
        + ((v - C1_MASS_V_MM) / 8.5) ** 2
        + (s / 7.5) ** 2
    ) <= 1.0
    # The foramen's medial wall is the lateral mass.
    radius = np.hypot(au - C1_FORAMEN_U_MM, v - C1_FORAMEN_V_MM)
    transverse = (radius <= C1_FORAMEN_RADIUS_MM + 2.0) & (np.abs(s) <= 3.5)
    transverse |= (_segment_distance(au, v, (25.0, -8.0), (34.0, -8.5)) <= 2.3) & (np.abs(s) <= 3.0)
    # The posterior arch runs round the canal, against its posterior wall.
    posterior = _segment_distance(au, v, (16.0, 0.0), (10.0, 7.5)) <= 2.5
    posterior |= _segment_distance(au, v, (10.0, 7.5), (0.0, 9.5)) <= 2.5
    posterior &= np.abs(s + 1.0) <= 4.0
    posterior |= ((u / 4.0) ** 2 + ((v - 11.0) / 3.0) ** 2 + ((s + 1.0) / 5.0) ** 2) <= 1.0
    dens_space = (np.hypot(u, v - DENS_V_MM) <= DENS_RADIUS_MM + 1.0) & (v <= A_MM)
    holes = canal_section(u, v) | (radius < C1_FORAMEN_RADIUS_MM) | dens_space
    parts = {
        "anterior arch": anterior,
        "lateral mass": mass,
        "transverse": transverse,
        "posterior arch": posterior,
    }
    return {name: mask & ~holes for name, mask in parts.items()}


def atlas_sectors(u: FloatArray, v: FloatArray, s: FloatArray) -> NDArray[np.uint8]:
    """True sectors of C1 at local points (module docstring)."""
    parts = atlas_parts(u, v, s)
    au = np.abs(u)
    side_lateral = np.where(u > 0, 2, 6)
    side_posterior = np.where(u > 0, 3, 5)
    truth = np.zeros(u.shape, dtype=np.uint8)
    for name in ("transverse", "posterior arch"):
        truth[parts[name]] = side_posterior[parts[name]]
    tubercle = parts["posterior arch"] & (v > P_MM) & (au <= W_MM)
    truth[tubercle] = 4
    # The transverse process begins at its foramen's medial edge (as at C3-C7).
    root = parts["transverse"] & (au < C1_FORAMEN_U_MM - C1_FORAMEN_RADIUS_MM)
    truth[root] = side_lateral[root]
    # The anterior arch lies between the lateral masses (medial to their innermost point).
    arch = parts["anterior arch"]
    truth[arch] = np.where(au < C1_MASS_U_MM - C1_MASS_HALF_WIDTH_MM, 1, side_lateral)[arch]
    truth[parts["lateral mass"]] = side_lateral[parts["lateral mass"]]
    return truth


def axis_sectors(u: FloatArray, v: FloatArray, s: FloatArray) -> NDArray[np.uint8]:
    """True sectors of C2 at local points: those of a mid-cervical vertebra, and the dens
    is body."""
    parts = axis_parts(u, v, s)
    body = parts.pop("body") | parts.pop("dens")
    truth = _sectors_of(parts | {"body": body}, u, v)
    return truth


def make_cervical_column(
    *,
    levels: tuple[str, ...] = ("C4", "C5", "C6"),
    spacing_mm: tuple[float, float, float] = (1.0, 0.6, 0.6),
    orientation: str = "HFS",
    tilt_deg: float = 0.0,
    rotation_deg: float = 0.0,
    carotid_tubercle: bool = False,
) -> CervicalColumn:
    """Voxelise the column; ``spacing_mm`` is (slice, row, column) in mm. ``levels`` from
    the top down, 18 mm apart; "C1" and "C2" take the atlas and the axis, any other name a
    mid-cervical vertebra."""
    rot = _rotation(tilt_deg, rotation_deg)
    n = len(levels)
    centres = (np.arange(n)[::-1] - (n - 1) / 2.0) * PITCH_MM
    # C1's transverse processes reach 37 mm from the midline; C2's dens rises into C1.
    half_s, low_v, high_v = PITCH_MM * n / 2.0 + 10.0, -26.0, 26.0
    half_u = 38.0 if "C1" in levels else 30.0
    corners = (
        np.array(
            [
                [su * half_u, sv, ss * half_s]
                for su in (-1, 1)
                for sv in (low_v, high_v)
                for ss in (-1, 1)
            ]
        )
        @ rot
    )
    low, high = corners.min(axis=0), corners.max(axis=0)
    direction = ORIENTATIONS[orientation]
    spacing = np.asarray(spacing_mm, dtype=float)
    shape = []
    for axis in range(3):
        lps_axis = int(np.argmax(np.abs(direction[:, axis])))
        shape.append(int(np.ceil((high - low)[lps_axis] / spacing[axis])) + 1)
    # An odd offset keeps voxel centres off the model's planes.
    origin = np.where(direction.sum(axis=1) > 0, low, high) + np.array([0.31, 0.17, 0.23])
    grid = ImageGrid(tuple(shape), tuple(spacing), tuple(origin), direction)
    ijk = np.indices(grid.shape).reshape(3, -1).T
    u, v, s = (grid.index_to_lps(ijk) @ rot.T).T
    # The canal and cord run on past the end vertebrae, to the grid's edge.
    canal = canal_section(u, v)
    cord = (u / 6.5) ** 2 + ((v + 1.0) / 4.0) ** 2 <= 1.0
    vertebrae: dict[str, Mask] = {}
    truth: dict[str, dict[int, Mask]] = {}
    for level, centre in zip(levels, centres):
        reach_up = DENS_TOP_MM + 1.0 if level == "C2" else PITCH_MM / 2.0 + 2.0
        near = (s - centre <= reach_up) & (centre - s <= PITCH_MM / 2.0 + 2.0)
        sectors = np.zeros(u.shape, dtype=np.uint8)
        if level == "C1":
            sectors[near] = atlas_sectors(u[near], v[near], s[near] - centre)
        elif level == "C2":
            sectors[near] = axis_sectors(u[near], v[near], s[near] - centre)
        else:
            sectors[near] = true_sectors(
                u[near], v[near], s[near] - centre, carotid_tubercle=carotid_tubercle
            )
        sectors = sectors.reshape(grid.shape)
        vertebrae[level] = Mask.from_array(grid, sectors > 0)
        truth[level] = {k: Mask.from_array(grid, sectors == k) for k in range(1, 7)}
    return CervicalColumn(
        grid,
        vertebrae,
        truth,
        Mask.from_array(grid, canal.reshape(grid.shape)),
        Mask.from_array(grid, cord.reshape(grid.shape)),
    )
