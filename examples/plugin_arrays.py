"""A planning-system plugin: numpy arrays and the image geometry in, numpy masks out, no files.

A treatment-planning-system script usually holds the image geometry and the structures as
arrays already. This example

1. gets boolean arrays for the vertebrae, the cord and the GTV (here from the synthetic
   phantom, standing in for the planning system's own arrays),
2. describes the grid with :class:`spinetv.ImageGrid` (shape, spacing, origin, direction),
3. wraps the arrays as :class:`spinetv.Mask` values and builds an :class:`spinetv.Anatomy`,
4. plans a protocol and takes the PTV_Eval (and the other structures) back as numpy arrays,
   on the planning grid and resampled onto the image grid.

Nothing is read from or written to disk. Usage: ``python examples/plugin_arrays.py``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import numpy as np

import spinetv
from spinetv.geometry.resample import refine_in_plane, resample_nearest
from spinetv.phantom import GtvSpec, make_spine_phantom


@dataclass(frozen=True)
class TpsArrays:
    """What a planning system hands over: geometry numbers and boolean arrays, no spinetv types."""

    shape: tuple[int, int, int]  # (slices, rows, columns)
    spacing_mm: tuple[float, float, float]  # between voxel centres along those axes
    origin_lps_mm: tuple[float, float, float]  # centre of voxel (0, 0, 0), DICOM LPS
    direction: np.ndarray  # 3x3, columns: LPS directions of the array axes
    frame_of_reference_uid: str
    vertebrae: dict[str, np.ndarray]
    cord: np.ndarray
    gtv: np.ndarray


def arrays_from_the_planning_system() -> TpsArrays:
    """Stand-in for the planning system (here the synthetic phantom's arrays)."""
    phantom = make_spine_phantom(
        levels=("T11", "T12", "L1"),
        spacing_mm=(2.0, 1.2, 1.2),
        gtv=GtvSpec(level="T12", sectors=(1, 6), body_side="right", epidural_mm=2.0),
    )
    grid = phantom.grid
    assert phantom.gtv is not None
    return TpsArrays(
        shape=grid.shape,
        spacing_mm=grid.spacing_mm,
        origin_lps_mm=grid.origin_lps_mm,
        direction=np.asarray(grid.direction),
        frame_of_reference_uid=grid.frame_of_reference_uid,
        vertebrae={lv: m.to_array() for lv, m in phantom.vertebrae.items()},
        cord=phantom.cord.to_array(),
        gtv=phantom.gtv.to_array(),
    )


def main() -> int:
    tps = arrays_from_the_planning_system()

    grid = spinetv.ImageGrid(
        shape=tps.shape,
        spacing_mm=tps.spacing_mm,
        origin_lps_mm=tps.origin_lps_mm,
        direction=tps.direction,
        frame_of_reference_uid=tps.frame_of_reference_uid,
    )
    vertebrae = {level: spinetv.Mask.from_array(grid, a) for level, a in tps.vertebrae.items()}
    anatomy = spinetv.Anatomy(grid, vertebrae, cord=spinetv.Mask.from_array(grid, tps.cord))
    gtv = spinetv.Mask.from_array(grid, tps.gtv)

    result = spinetv.plan(gtv, anatomy, spinetv.PlanOptions(protocol="sib-sbrt-2025"))

    masks = {s.name: s.mask for s in result.structures}
    # PTV, PTV_Eval and PRVs are made on an in-plane refined copy of the grid when the pixels
    # are too coarse for the margin (same slices, each pixel split k x k; see the report's
    # "planning_grid"). A plugin that needs them on the image grid resamples them back.
    ptv_eval_mask = masks["PTV_Eval"]
    fine = ptv_eval_mask.to_array()  # boolean numpy array on the planning grid
    ptv_eval = resample_nearest(ptv_eval_mask, grid).to_array()  # ... and on the image grid
    assert ptv_eval.shape == grid.shape and ptv_eval.dtype == np.bool_
    canal = refine_in_plane(masks["SpinalCanal"], fine.shape[1] // grid.shape[1]).to_array()
    assert not (fine & canal).any(), "PTV_Eval must stay out of the spinal canal"

    report = result.report
    print(f"grid {grid.shape}, spacing {grid.spacing_mm} mm")
    print(f"involved levels: {', '.join(report['involved_levels'])}")
    for level in report["ctv"]["levels"]:
        print(f"  {level['text']}")
    refinement = report["options"]["planning_grid"]["in_plane_refinement"]
    print(
        f"PTV_Eval: {ptv_eval_mask.volume_cc:.2f} cc on the planning grid {fine.shape} "
        f"(in-plane refinement {refinement}); {int(ptv_eval.sum())} voxels on the image grid "
        f"= {ptv_eval.sum() * float(np.prod(grid.spacing_mm)) / 1000:.2f} cc"
    )
    print("structures as arrays:", ", ".join(sorted(masks)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
