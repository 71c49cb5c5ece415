"""Speed of the spine phantom generator on a clinical-size grid (512 x 512 x 200, 1 mm).

Run: ``python benchmarks/bench_phantom.py``. Prints a table and writes
``benchmarks/results/phantom.json``. Peers measured in the same run: filling the same int16
volume with Gaussian noise (the floor any generator pays per voxel) and a scipy distance
transform of one vertebra-sized box.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy import ndimage

from spinetv.phantom import GtvSpec, make_spine_phantom

SHAPE = (200, 512, 512)
REPEATS = 3


def _best(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _noise_floor() -> None:
    rng = np.random.default_rng(0)
    volume = np.zeros(SHAPE, dtype=np.int16)
    for start in range(0, SHAPE[0], 16):
        block = volume[start : start + 16]
        block[...] = np.rint(rng.standard_normal(block.shape, dtype=np.float32) * 10)


def _edt_box() -> None:
    box = np.zeros((60, 100, 100), dtype=bool)
    box[10:50, 20:80, 20:80] = True
    ndimage.distance_transform_edt(box, sampling=(1.0, 1.0, 1.0))


def main() -> None:
    cases: dict[str, Callable[[], object]] = {
        "phantom L1-L5 512x512x200": lambda: make_spine_phantom(levels="L1-L5", shape=SHAPE),
        "phantom T10-L3 512x512x200": lambda: make_spine_phantom(levels="T10-L3", shape=SHAPE),
        "phantom L1-L5 +GTV+noise+lordosis": lambda: make_spine_phantom(
            levels="L1-L5",
            shape=SHAPE,
            lordosis_deg=20,
            axial_rotation_deg=10,
            noise_hu=10,
            gtv=GtvSpec("L3", (1, 2, 3), epidural_mm=3, paraspinal_mm=5),
        ),
        "phantom L4-S5 512x512x200": lambda: make_spine_phantom(levels="L4-S5", shape=SHAPE),
        "phantom L1-L3 auto grid": lambda: make_spine_phantom(levels="L1-L3"),
        "peer: noise fill 512x512x200 int16": _noise_floor,
        "peer: EDT of a 60x100x100 box": _edt_box,
    }
    results = {name: _best(fn) for name, fn in cases.items()}
    floor = results["peer: noise fill 512x512x200 int16"]
    print(f"{'case':<40} {'best of 3 (s)':>14} {'x noise fill':>13}")
    for name, seconds in results.items():
        print(f"{name:<40} {seconds:>14.3f} {seconds / floor:>13.1f}")
    phantom = make_spine_phantom(levels="T10-L5", spacing_mm=(1, 1, 1))
    volumes = {lv: round(phantom.vertebrae[lv].volume_cc, 2) for lv in phantom.levels}
    for levels in ("C3-C7", "T1-T9", "S1-S5"):
        other = make_spine_phantom(levels=levels, spacing_mm=(1, 1, 1))
        volumes.update({lv: round(other.vertebrae[lv].volume_cc, 2) for lv in other.levels})
    print("vertebra volumes (cc, 1 mm):", volumes)
    out = Path(__file__).resolve().parent / "results" / "phantom.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "shape": SHAPE,
                "repeats": REPEATS,
                "seconds": results,
                "ratio_to_noise_fill": {k: v / floor for k, v in results.items()},
                "volumes_cc": volumes,
                "machine": {
                    "python": platform.python_version(),
                    "numpy": np.__version__,
                    "processor": platform.processor() or platform.machine(),
                },
            },
            indent=2,
        )
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
