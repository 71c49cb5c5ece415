"""Time reading a 512x512x200 CT series: spinetv against pydicom and SimpleITK, in one run.

Run from the project root::

    python benchmarks/bench_read_series.py [--slices 200] [--repeats 3]

Writes benchmarks/results/read_series.json. The reference is pydicom reading every file with
its pixel data (``dcmread`` + ``pixel_array``); ``spinetv plan`` reads headers only, which must
stay well below that.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pydicom
import SimpleITK as sitk  # noqa: N813

from spinetv.geometry.grid import ImageGrid
from spinetv.io.dicom_series import read_dicom_series, write_dicom_series

RESULTS = Path(__file__).resolve().parent / "results" / "read_series.json"


def make_series(folder: Path, slices: int) -> Path:
    """A 512x512 x ``slices`` 1 mm CT: a body ellipse of soft tissue with a bone column."""
    grid = ImageGrid((slices, 512, 512), (1.0, 1.0, 1.0), (-255.5, -255.5, -100.0))
    rows, columns = np.mgrid[0:512, 0:512]
    body = ((rows - 256) / 180.0) ** 2 + ((columns - 256) / 240.0) ** 2 <= 1.0
    bone = (rows - 330) ** 2 + (columns - 256) ** 2 <= 25**2
    plane = np.where(body, 40, -1000).astype(np.int16)
    plane[bone] = 700
    noise = np.random.default_rng(0).integers(-20, 21, (slices, 512, 512), dtype=np.int16)
    voxels = plane[np.newaxis] + noise
    write_dicom_series(voxels, grid, folder / "ct", series_description="benchmark")
    return folder / "ct"


def pydicom_with_pixels(folder: Path) -> object:
    return [pydicom.dcmread(path).pixel_array for path in sorted(folder.iterdir())]


def spinetv_headers(folder: Path) -> object:
    return read_dicom_series(folder).grid


def spinetv_voxels(folder: Path) -> object:
    return read_dicom_series(folder).voxels


def simpleitk_series(folder: Path) -> object:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return sitk.GetArrayViewFromImage(reader.Execute()).shape


def timed(function: Callable[[Path], object], folder: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function(folder)
        times.append(time.perf_counter() - start)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        start = time.perf_counter()
        folder = make_series(Path(temp), args.slices)
        write_s = time.perf_counter() - start
        cases = {
            "pydicom dcmread + pixel_array (reference)": pydicom_with_pixels,
            "spinetv read_dicom_series, headers only": spinetv_headers,
            "spinetv read_dicom_series + .voxels": spinetv_voxels,
            "SimpleITK ImageSeriesReader": simpleitk_series,
        }
        pydicom_with_pixels(folder)  # warm the file cache for every case alike
        times = {name: timed(function, folder, args.repeats) for name, function in cases.items()}
    reference = statistics.median(times["pydicom dcmread + pixel_array (reference)"])
    print(f"series 512x512x{args.slices}, 1 mm; written by spinetv in {write_s:.2f} s")
    print(f"{'case':45s} {'median s':>9s} {'min s':>7s} {'/ pydicom':>10s}")
    rows = []
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:45s} {median:9.3f} {min(values):7.3f} {median / reference:10.2f}")
        rows.append(
            {
                "case": name,
                "median_s": median,
                "min_s": min(values),
                "ratio_to_pydicom": median / reference,
            }
        )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "read_series",
                "shape": [args.slices, 512, 512],
                "repeats": args.repeats,
                "write_s": write_s,
                "python": sys.version.split()[0],
                "pydicom": pydicom.__version__,
                "simpleitk": sitk.Version.VersionString(),
                "machine": platform.platform(),
                "results": rows,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    print(f"written {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
