"""RTSTRUCT reading and writing: spinetv against rt-utils, on a 512 x 512 x 200, 1 mm CT.

Reading: an RTSTRUCT of 7 large ROIs (ellipsoids, tori, a hollow sphere of 100-1500 cc, written
by spinetv) read back as 7 masks. Writing: an RTSTRUCT of 10 ROIs from masks. Both tools are
timed on the contour work alone and end to end (including loading the CT series, which rt-utils
does with pixel data and spinetv with headers only). Volumes are compared with the analytic ones.

Run: ``python benchmarks/bench_rtstruct.py`` (about a minute); writes
``benchmarks/results/rtstruct.json``.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "interop"))

from rtstruct_phantoms import Shape, ellipsoid, hollow, sphere, torus  # noqa: E402

import spinetv  # noqa: E402
from spinetv.geometry.grid import BoundingBox, ImageGrid  # noqa: E402
from spinetv.geometry.mask import Mask  # noqa: E402
from spinetv.io.dicom_series import read_dicom_series, write_dicom_series  # noqa: E402
from spinetv.io.rtstruct import read_rtstruct, read_structures, write_rtstruct  # noqa: E402
from spinetv.structure import Structure  # noqa: E402

GRID = ImageGrid((200, 512, 512), (1.0, 1.0, 1.0), (-255.5, -255.5, -99.5))

READ_SHAPES = [
    ellipsoid("Ell_1500", 80.0, 60.0, 75.0, (-60.0, 10.0, 0.0)),
    ellipsoid("Ell_800", 60.0, 40.0, 80.0, (70.0, -20.0, 5.0)),
    ellipsoid("Ell_300", 40.0, 30.0, 60.0, (0.0, 90.0, -10.0)),
    ellipsoid("Ell_100", 25.0, 20.0, 48.0, (120.0, 80.0, 20.0)),
    torus("Torus_600", 60.0, 22.5, (0.0, -60.0, 30.0)),
    torus("Torus_200", 40.0, 16.0, (-120.0, -100.0, -40.0)),
    hollow("Hollow_410", 50.0, 30.0, (130.0, -120.0, 0.0)),
]
WRITE_SHAPES = READ_SHAPES + [
    sphere("Sphere_10", 10.0, (-150.0, 120.0, 50.0)),
    sphere("Sphere_50", 50.0, (-100.0, 150.0, -50.0)),
    sphere("Sphere_150", 150.0, (60.0, 160.0, 40.0)),
]


def _extent_mm(shape: Shape) -> float:
    if shape.kind == "torus":
        return shape.params[0] + shape.params[1]
    return max(shape.params)


def shape_mask(grid: ImageGrid, shape: Shape) -> Mask:
    """Voxel centres inside ``shape``, evaluated in its bounding box only."""
    reach = _extent_mm(shape) + 2.0
    corners = np.array(
        [[shape.centre_lps[i] + s * reach for i, s in enumerate(signs)]
         for signs in np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).T.reshape(-1, 3)]
    )
    ijk = grid.lps_to_index(corners)
    start = np.clip(np.floor(ijk.min(axis=0)).astype(int), 0, grid.shape)
    stop = np.clip(np.ceil(ijk.max(axis=0)).astype(int) + 1, 0, grid.shape)
    box = BoundingBox(tuple(start), tuple(stop))
    local = np.stack(np.indices(box.shape), axis=-1) + np.asarray(box.start)
    return Mask.from_box(grid, box, shape.inside(grid.index_to_lps(local)))


def timed(function, repeats: int = 1):  # type: ignore[no-untyped-def]
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def rt_utils_to_ours(array: np.ndarray) -> np.ndarray:
    """rt-utils masks are (rows, columns, slices) in ascending slice position."""
    return np.transpose(array, (2, 0, 1))


def main() -> None:
    import rt_utils

    warnings.simplefilter("ignore")
    results: dict[str, object] = {
        "grid": {"shape": GRID.shape, "spacing_mm": GRID.spacing_mm},
        "spinetv": spinetv.__version__,
        "rt_utils": getattr(rt_utils, "__version__", "unknown"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    with tempfile.TemporaryDirectory(prefix="bench_rtstruct_") as tmp:
        root = Path(tmp)
        print("writing the 512x512x200 CT series ...", flush=True)
        reference = write_dicom_series(np.zeros(GRID.shape, np.int16), GRID, root / "ct")
        grid = reference.grid
        masks = {shape.name: shape_mask(grid, shape) for shape in WRITE_SHAPES}
        analytic = {shape.name: shape.analytic_cc for shape in WRITE_SHAPES}
        read_structs = [Structure(s.name, masks[s.name]) for s in READ_SHAPES]
        write_structs = [Structure(s.name, masks[s.name]) for s in WRITE_SHAPES]
        rs_path = write_rtstruct(read_structs, reference, root / "RS7.dcm")
        size_mb = rs_path.stat().st_size / 1e6

        # ---- reading 7 ROIs ------------------------------------------------------------
        t_series_ours, image = timed(lambda: read_dicom_series(root / "ct"))
        ref = image.reference
        t_read_ours, ours = timed(lambda: read_structures(rs_path, ref), repeats=3)

        def rt_utils_open():  # type: ignore[no-untyped-def]
            return rt_utils.RTStructBuilder.create_from(str(root / "ct"), str(rs_path))

        t_open_theirs, builder = timed(rt_utils_open)
        t_masks_theirs, theirs = timed(
            lambda: {s.name: builder.get_roi_mask_by_name(s.name) for s in READ_SHAPES}
        )
        read_rows = []
        for shape in READ_SHAPES:
            our_mask = ours[shape.name].mask
            truth_cc = analytic[shape.name]
            their_mask = rt_utils_to_ours(theirs[shape.name])
            their_cc = float(their_mask.sum()) * grid.voxel_volume_cc
            truth = masks[shape.name].to_array()
            read_rows.append(
                {
                    "roi": shape.name,
                    "analytic_cc": round(analytic[shape.name], 3),
                    "spinetv_cc": round(our_mask.volume_cc, 3),
                    "spinetv_error_pct": round(100 * (our_mask.volume_cc / truth_cc - 1), 3),
                    "spinetv_identical_to_input": bool(np.array_equal(our_mask.to_array(), truth)),
                    "rt_utils_cc": round(their_cc, 3),
                    "rt_utils_error_pct": round(100 * (their_cc / truth_cc - 1), 3),
                }
            )
        results["read"] = {
            "rtstruct_mb": round(size_mb, 2),
            "spinetv_s": round(t_read_ours, 3),
            "spinetv_series_headers_s": round(t_series_ours, 3),
            "rt_utils_masks_s": round(t_masks_theirs, 3),
            "rt_utils_create_from_s": round(t_open_theirs, 3),
            "ratio_contours": round(t_masks_theirs / t_read_ours, 2),
            "ratio_end_to_end": round(
                (t_open_theirs + t_masks_theirs) / (t_series_ours + t_read_ours), 2
            ),
            "rois": read_rows,
        }

        # ---- writing 10 ROIs ------------------------------------------------------------
        t_write_ours, _ = timed(
            lambda: write_rtstruct(write_structs, ref, root / "RS10.dcm", overwrite=True),
            repeats=2,
        )
        t_new_theirs, new_builder = timed(
            lambda: rt_utils.RTStructBuilder.create_new(dicom_series_path=str(root / "ct"))
        )
        full_masks = {name: np.transpose(m.to_array(), (1, 2, 0)) for name, m in masks.items()}

        def rt_utils_write():  # type: ignore[no-untyped-def]
            for shape in WRITE_SHAPES:
                new_builder.add_roi(mask=full_masks[shape.name], name=shape.name)
            new_builder.save(str(root / "RS10_rt_utils.dcm"))

        t_add_theirs, _ = timed(rt_utils_write)
        results["write"] = {
            "spinetv_s": round(t_write_ours, 3),
            "rt_utils_add_roi_save_s": round(t_add_theirs, 3),
            "rt_utils_create_new_s": round(t_new_theirs, 3),
            "ratio_contours": round(t_add_theirs / t_write_ours, 2),
            "ratio_end_to_end": round(
                (t_new_theirs + t_add_theirs) / (t_series_ours + t_write_ours), 2
            ),
            "spinetv_mb": round((root / "RS10.dcm").stat().st_size / 1e6, 2),
            "rt_utils_mb": round((root / "RS10_rt_utils.dcm").stat().st_size / 1e6, 2),
            "spinetv_points": sum(
                len(c.points_lps_mm)
                for cs in read_rtstruct(root / "RS10.dcm").contours.values()
                for c in cs
            ),
        }

    read, write = results["read"], results["write"]
    print(f"\nRTSTRUCT benchmark on {GRID.shape} 1 mm grid (python {results['python']})")
    print(f"{'task':42s} {'spinetv s':>10s} {'rt-utils s':>11s} {'ratio':>7s}")
    print(f"{'read 7 ROIs as masks (contours only)':42s} {read['spinetv_s']:10.2f} "  # type: ignore[index]
          f"{read['rt_utils_masks_s']:11.2f} {read['ratio_contours']:7.1f}")  # type: ignore[index]
    print(f"{'read 7 ROIs incl. loading the series':42s} "
          f"{read['spinetv_s'] + read['spinetv_series_headers_s']:10.2f} "  # type: ignore[index]
          f"{read['rt_utils_masks_s'] + read['rt_utils_create_from_s']:11.2f} "  # type: ignore[index]
          f"{read['ratio_end_to_end']:7.1f}")  # type: ignore[index]
    print(f"{'write 10 ROIs (contours + save)':42s} {write['spinetv_s']:10.2f} "  # type: ignore[index]
          f"{write['rt_utils_add_roi_save_s']:11.2f} {write['ratio_contours']:7.1f}")  # type: ignore[index]
    print(f"{'write 10 ROIs incl. loading the series':42s} "
          f"{write['spinetv_s'] + read['spinetv_series_headers_s']:10.2f} "  # type: ignore[index]
          f"{write['rt_utils_add_roi_save_s'] + write['rt_utils_create_new_s']:11.2f} "  # type: ignore[index]
          f"{write['ratio_end_to_end']:7.1f}")  # type: ignore[index]
    print(f"\n{'ROI':12s} {'analytic cc':>12s} {'spinetv err %':>14s} {'rt-utils err %':>15s}")
    for row in read["rois"]:  # type: ignore[index]
        print(f"{row['roi']:12s} {row['analytic_cc']:12.1f} {row['spinetv_error_pct']:14.3f} "
              f"{row['rt_utils_error_pct']:15.3f}")
    out = HERE / "results" / "rtstruct.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
