"""Time of the DVHs of every structure of a 512x512x200 case on a 2.5 mm dose grid.

Run from the project root::

    python benchmarks/bench_dvh.py [--repeats 3]

A lumbar phantom (T12-L4, GTV in the L2 body and left pedicle) at 1 mm is planned with
``sib-sbrt-2025``; a smooth synthetic dose (30 Gy around the target falling off with distance,
42 Gy in the GTV) is put on a 2.5 mm grid covering the image. Timed: the DVH of every structure
(the plan's sectors, CTV, PTV, PTV_Eval, PRV, canal; the input vertebrae, cord, GTV and the
12-litre body outline) and the evaluation of the protocol's 15 limits. Where the dicompyler-core
side interpreter exists (``.ci/venv-dicompyler``, built by ``.ci/run``), the same structures'
DVHs by dicompyler-core from the written RTSTRUCT and RTDOSE are timed in one process as the
peer. Writes benchmarks/results/dvh.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "dvh.json"
sys.path.insert(0, str(ROOT / "tests"))
SIDE = ROOT / ".ci" / "venv-dicompyler" / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from spinetv.anatomy.model import Anatomy
    from spinetv.dose import dvh
    from spinetv.evaluation import evaluate
    from spinetv.geometry.grid import ImageGrid
    from spinetv.io.rtdose import DoseGrid
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom
    from spinetv.pipeline import PlanOptions, plan

    model = make_spine_phantom(
        levels=("T12", "L1", "L2", "L3", "L4"), spacing_mm=(1.0, 1.0, 1.0),
        shape=(200, 512, 512), gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = plan(model.gtv, Anatomy(model.grid, model.vertebrae, cord=model.cord),
                      PlanOptions(protocol="sib-sbrt-2025"))
    structures = {s.name: s.mask for s in result.structures}
    structures.update({s.name: s.mask for s in model.structures()})
    structures["GTV"] = model.gtv

    # The dose: 2.5 mm voxels over the image; 42 Gy in the GTV, 30 Gy within 2 mm of the PTV,
    # then falling by 2 Gy/mm to a 2 Gy floor.
    grid = model.grid
    spacing = (2.5, 2.5, 2.5)
    shape = tuple(int(np.ceil(n * s / d)) for n, s, d in zip(grid.shape, grid.spacing_mm, spacing))
    dose_grid = ImageGrid(shape, spacing, grid.origin_lps_mm, grid.direction,
                          frame_of_reference_uid=grid.frame_of_reference_uid)
    index = np.indices(shape).reshape(3, -1).T
    at = np.rint(grid.lps_to_index(dose_grid.index_to_lps(index))).astype(int)
    at = np.clip(at, 0, np.asarray(grid.shape) - 1)
    ptv = structures["PTV"]
    if ptv.grid.shape != grid.shape:
        from spinetv.geometry.resample import resample_nearest

        ptv = resample_nearest(ptv, grid)
    distance = ndimage.distance_transform_edt(~ptv.to_array(), sampling=grid.spacing_mm)
    values = np.clip(30.0 - 2.0 * np.maximum(distance - 2.0, 0.0), 2.0, None)
    values[model.gtv.to_array()] = 42.0
    dose_values = values[at[:, 0], at[:, 1], at[:, 2]].reshape(shape)
    dose = DoseGrid(dose_grid, dose_values, source="synthetic")

    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for name, mask in structures.items():
            dvh(mask, dose, name=name)
        timings.append(time.perf_counter() - start)
    start = time.perf_counter()
    evaluation = evaluate(structures, dose, "sib-sbrt-2025")
    evaluate_s = time.perf_counter() - start
    total_cc = sum(m.volume_cc for m in structures.values())

    peer = None
    if SIDE.is_file():
        from dicom_checks import write_rtdose_on

        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            _, rs = write_phantom(model, folder / "case")
            rd = write_rtdose_on(dose_grid, dose_values, folder / "RD.dcm")
            script = ROOT / "tests" / "interop" / "dicompyler_dvh.py"
            start = time.perf_counter()
            done = subprocess.run([str(SIDE), str(script), str(rs), str(rd)],
                                  capture_output=True, text=True, check=False)
            peer = {"dicompyler_core_s": time.perf_counter() - start,
                    "structures": len(json.loads(done.stdout)) if done.returncode == 0 else 0,
                    "note": "dicompyler-core 0.5.6 on the phantom's input RTSTRUCT (vertebrae, "
                            "canal, cord, GTV, body), in its own process"}

    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "case": "512x512x200, 1 mm, T12-L4 phantom planned with sib-sbrt-2025",
        "dose_grid": f"{shape} at 2.5 mm",
        "structures": len(structures),
        "structures_total_cc": round(total_cc, 1),
        "all_dvhs_s": statistics.median(timings),
        "all_dvhs_min_s": min(timings),
        "evaluate_15_limits_s": evaluate_s,
        "mandatory_passed": evaluation.summary["mandatory"],
        "peer": peer,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
