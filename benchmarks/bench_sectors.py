"""Speed of sector labelling for one lumbar vertebra on a 512x512x200, 1 mm grid.

Run: ``python benchmarks/bench_sectors.py``. Prints a table and writes
``benchmarks/results/sectors.json``. Peers measured in the same run: slice-wise hole filling
(the naive canal, which finds nothing on open rings) on the vertebra's box and on the whole grid.
"""

from __future__ import annotations

import json
import platform
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinetv.anatomy.canal import derive_canal
from spinetv.anatomy.sacrum import split_sacrum_detailed
from spinetv.anatomy.sectors import label_sectors
from spinetv.geometry.booleans import union
from spinetv.phantom import make_spine_phantom
from spinetv.pipeline import Anatomy, label_case_sectors

REPEATS = 5


def best_of(function: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    phantom = make_spine_phantom(levels="L2-L4", spacing_mm=(1.0, 1.0, 1.0), shape=(200, 512, 512))
    vertebra = phantom.vertebrae["L3"]
    neighbours = {"L2": phantom.vertebrae["L2"], "L4": phantom.vertebrae["L4"]}
    full = vertebra.to_array()

    def slicewise_box() -> object:
        return [ndimage.binary_fill_holes(plane) for plane in vertebra.box_array]

    def slicewise_full() -> object:
        return [ndimage.binary_fill_holes(plane) for plane in full]

    lone = make_spine_phantom(
        levels="L5", spacing_mm=(1.0, 1.0, 1.0), tilt_deg=35.0, axial_rotation_deg=10.0
    )
    pelvis = make_spine_phantom(
        levels="L5-S5", spacing_mm=(1.0, 1.0, 1.0), tilt_deg=20.0, sacral_kyphosis_deg=40.0
    )
    sacral = {lv: m for lv, m in pelvis.vertebrae.items() if lv.startswith("S")}
    rest = union(*[sacral[lv] for lv in ("S2", "S3", "S4", "S5")])
    sacral_anatomy = Anatomy(
        pelvis.grid, {"L5": pelvis.vertebrae["L5"], "S1": sacral["S1"], "Sacrum": rest}
    )

    def whole_sacrum() -> object:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return label_case_sectors(sacral_anatomy, list(sacral), required=())

    rows = {
        "label_sectors L5 alone, tilted 35 deg, axis searched on the bone": best_of(
            lambda: label_sectors(lone.vertebrae["L5"], level="L5")
        ),
        "whole sacrum: split S1-S5, sacral canal, compartments of all 5": best_of(whole_sacrum),
        "split_sacrum_detailed only": best_of(
            lambda: split_sacrum_detailed(rest, s1=sacral["S1"])
        ),
        "label_sectors L3, canal derived (neighbours given)": best_of(
            lambda: label_sectors(vertebra, level="L3", neighbours=neighbours)
        ),
        "label_sectors L3, contoured canal": best_of(
            lambda: label_sectors(vertebra, level="L3", canal=phantom.canal)
        ),
        "derive_canal L3 only": best_of(
            lambda: derive_canal({"L3": vertebra, **neighbours}, levels=["L3"])
        ),
        "derive_canal L2-L4": best_of(lambda: derive_canal(dict(phantom.vertebrae))),
        "peer: slice-wise hole filling, vertebra box": best_of(slicewise_box),
        "peer: slice-wise hole filling, whole grid": best_of(slicewise_full),
    }
    reference = rows["peer: slice-wise hole filling, whole grid"]
    print(f"grid {phantom.grid.shape} 1 mm; L3 {vertebra.volume_cc:.1f} cc; best of {REPEATS}")
    print(f"{'case':58s} {'time s':>8s} {'x whole-grid peer':>18s}")
    for name, seconds in rows.items():
        print(f"{name:58s} {seconds:8.3f} {seconds / reference:18.2f}")
    result = {
        "grid_shape": list(phantom.grid.shape),
        "spacing_mm": list(phantom.grid.spacing_mm),
        "vertebra_cc": vertebra.volume_cc,
        "repeats": REPEATS,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "seconds": rows,
        "ratio_to_whole_grid_slicewise": {k: v / reference for k, v in rows.items()},
    }
    out = Path(__file__).resolve().parent / "results" / "sectors.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
