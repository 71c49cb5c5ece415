"""Time and peak memory of ``spinetv plan`` end to end on a 512x512x200 CT, beside pydicom.

Run from the project root::

    python benchmarks/bench_plan.py [--repeats 3]

A lumbar phantom (T12-L4, GTV in the L2 body and left pedicle) is written as a 512x512x200
1 mm CT series with its RTSTRUCT; then, in one run:

* the reference: pydicom reading every slice with its pixels (``dcmread`` + ``pixel_array``),
  in this process and in a new one (the cold reference for a cold ``spinetv plan``);
* ``spinetv plan`` as a user runs it (a new process: start-up, reading, sectors, CTV, margins,
  writing the RTSTRUCT and the report), its wall time and peak resident memory;
* the same job in-process (no interpreter start-up), split by stage.

Peak memory is compared with the size of the CT array (int16) and with the resident memory of
a Python process that only imports spinetv's dependencies, which no user job can go below.
Writes benchmarks/results/plan.json.

Every new process runs with Python's bytecode cache on (``PYTHONDONTWRITEBYTECODE`` removed
from its environment) after one warm-up run has compiled spinetv, as for a user: pip compiles
an installed package's modules, and an editable install caches them on the first run. Without
the cache every run compiles spinetv's 20 000 lines again, which adds about 0.1 s to the cold
figure; the reference pydicom read uses its own cached bytecode either way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom

RESULTS = Path(__file__).resolve().parent / "results" / "plan.json"
IMPORTS_ONLY = (
    "import numpy, scipy.ndimage, pydicom, skimage.measure; "
    "import spinetv.pipeline, spinetv.case"
)


#: A user's environment: modules' compiled bytecode cached (see the module docstring).
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def child_peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """Wall time (s) and peak resident memory (MB) of a command run in a fresh process."""
    wrapper = (
        "import resource, subprocess, sys, time; start = time.perf_counter(); "
        "code = subprocess.run(sys.argv[1:]).returncode; wall = time.perf_counter() - start; "
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024; "
        "print(f'{wall} {peak}'); sys.exit(code)"
    )
    done = subprocess.run(
        [sys.executable, "-c", wrapper, *command], capture_output=True, text=True, check=True,
        env=CHILD_ENV,
    )
    wall, peak = done.stdout.strip().splitlines()[-1].split()
    return float(wall), float(peak)


PYDICOM_PROCESS = (
    "import sys, pathlib, pydicom; "
    "[pydicom.dcmread(p).pixel_array for p in sorted(pathlib.Path(sys.argv[1]).iterdir())]"
)


def pydicom_read(folder: Path) -> float:
    start = time.perf_counter()
    for path in sorted(folder.iterdir()):
        pydicom.dcmread(path).pixel_array  # noqa: B018 - decoding is what is timed
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from spinetv.case import load_case
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom
    from spinetv.pipeline import PlanOptions, plan

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        phantom = make_spine_phantom(
            levels=("T12", "L1", "L2", "L3", "L4"), spacing_mm=(1.0, 1.0, 1.0),
            shape=(200, 512, 512), gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
            seed=0,
        )
        ct, rs = write_phantom(phantom, folder / "case")
        ct_array_mb = phantom.hu.nbytes / 2**20
        del phantom

        reference = [pydicom_read(ct) for _ in range(args.repeats)]
        reference_process = [
            child_peak_rss_mb([sys.executable, "-c", PYDICOM_PROCESS, str(ct)])
            for _ in range(args.repeats)
        ]
        cli = []
        warm_up = [sys.executable, "-m", "spinetv.cli", "plan", str(ct), "--rtstruct", str(rs),
                   "--gtv", "GTV", "--out", str(folder / "RS_warm.dcm")]
        subprocess.run(warm_up, capture_output=True, check=True, env=CHILD_ENV)
        for i in range(args.repeats):
            out = folder / f"RS_{i}.dcm"
            command = [sys.executable, "-m", "spinetv.cli", "plan", str(ct), "--rtstruct", str(rs),
                       "--gtv", "GTV", "--out", str(out), "--report", str(folder / f"r{i}.json")]
            cli.append(child_peak_rss_mb(command))
        baseline_wall, baseline_rss = child_peak_rss_mb([sys.executable, "-c", IMPORTS_ONLY])

        stages: dict[str, list[float]] = {"read": [], "plan": []}
        for _ in range(args.repeats):
            start = time.perf_counter()
            case = load_case(ct, rs, gtv="GTV")
            stages["read"].append(time.perf_counter() - start)
            start = time.perf_counter()
            assert case.gtv is not None
            plan(case.gtv, case.anatomy, PlanOptions())
            stages["plan"].append(time.perf_counter() - start)
        report = json.loads((folder / "r0.json").read_text())

    pydicom_s = statistics.median(reference)
    pydicom_process_s = statistics.median(w for w, _ in reference_process)
    cli_s = statistics.median(w for w, _ in cli)
    peak_mb = max(p for _, p in cli)
    results = {
        "machine": {"python": sys.version.split()[0], "platform": platform.platform()},
        "series": "512x512x200, 1 mm, T12-L4 phantom, GTV L2 body + left pedicle",
        "pydicom_read_with_pixels_s": pydicom_s,
        "pydicom_read_process_s": pydicom_process_s,
        "pydicom_read_process_peak_rss_mb": max(p for _, p in reference_process),
        "spinetv_plan_cli_s": cli_s,
        "ratio_cli_to_pydicom_process": cli_s / pydicom_process_s,
        "ratio_cli_to_pydicom": cli_s / pydicom_s,
        "imports_only_process_s": baseline_wall,
        "in_process_read_s": statistics.median(stages["read"]),
        "in_process_plan_s": statistics.median(stages["plan"]),
        "ratio_in_process_to_pydicom": (statistics.median(stages["read"])
                                        + statistics.median(stages["plan"])) / pydicom_s,
        "ct_array_mb": ct_array_mb,
        "peak_rss_mb": peak_mb,
        "ratio_peak_rss_to_ct_array": peak_mb / ct_array_mb,
        "imports_only_rss_mb": baseline_rss,
        "ratio_peak_rss_above_imports_to_ct_array": (peak_mb - baseline_rss) / ct_array_mb,
        "structures_cc": {k: v["volume_cc"] for k, v in report["structures"].items()},
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"pydicom read with pixels   {pydicom_s:7.3f} s  (reference)")
    print(f"pydicom read, new process  {pydicom_process_s:7.3f} s  (reference, cold)")
    print(f"spinetv plan (new process) {cli_s:7.3f} s  ratio to the cold read "
          f"{cli_s / pydicom_process_s:5.2f}")
    print(f"  python + imports only    {baseline_wall:7.3f} s")
    print(f"  in-process read          {results['in_process_read_s']:7.3f} s")
    print(f"  in-process plan          {results['in_process_plan_s']:7.3f} s  "
          f"ratio read+plan {results['ratio_in_process_to_pydicom']:5.2f}")
    print(f"peak RSS {peak_mb:7.1f} MB = {peak_mb / ct_array_mb:4.2f} x CT array "
          f"({ct_array_mb:.0f} MB); imports alone {baseline_rss:.0f} MB; above imports "
          f"{results['ratio_peak_rss_above_imports_to_ct_array']:4.2f} x")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
