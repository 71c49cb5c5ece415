"""``spinetv batch`` of 20 phantom cases x 2 protocols: local process pool against Dask workers.

Run from the project root (needs the ``cluster`` extra)::

    python benchmarks/bench_batch_dask.py [--cases 20] [--repeats 2]

Writes 20 small lumbar/thoracic phantoms (3 levels, 3 x 1.5 x 1.5 mm) and plans both arms of
ChiCTR1900023401 on each, timing ``run_batch`` (best of ``--repeats``, a fresh output folder
each time):

* in this process, one case after the other (``jobs=1``): the work itself, no executor;
* the local process pool with 2 workers (``jobs=2``; its time includes starting the workers);
* a local Dask cluster (``LocalCluster``, one thread per worker) of 1 and of 2 worker processes,
  started and warmed up (spinetv imported on each worker) before the clock starts; the start-up
  is reported on its own.

Dask's overhead per case is ``(Dask, 1 worker - in this process) / cases``: scheduling, sending
the task (paths) and its rows over TCP. The speed-up is ``Dask 1 worker / Dask 2 workers``.
Writes benchmarks/results/batch_dask.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "batch_dask.json"
ARMS = ("chictr1900023401-involved", "chictr1900023401-whole")


def _cohort(root: Path, count: int) -> list[Any]:
    from spinetv.batch import BatchCase
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

    specs = (
        (("L1", "L2", "L3"), GtvSpec(level="L2", sectors=(1, 2), body_side="left")),
        (("T11", "T12", "L1"), GtvSpec(level="T12", sectors=(1,), body_side="focal")),
        (("L3", "L4", "L5"), GtvSpec(level="L4", sectors=(4,))),
        (("T9", "T10", "T11"), GtvSpec(level="T10", sectors=(1,), body_side="diffuse")),
    )
    cases = []
    for i in range(count):
        levels, gtv = specs[i % len(specs)]
        phantom = make_spine_phantom(levels=levels, spacing_mm=(3.0, 1.5, 1.5), gtv=gtv, seed=i)
        folder = root / f"case{i:02d}"
        write_phantom(phantom, folder)
        cases.append(
            BatchCase(f"case{i:02d}", folder / "CT", "GTV", ARMS, rtstruct=folder / "RTSTRUCT.dcm")
        )
    return cases


def _best(run: Callable[[Path], Any], root: Path, repeats: int) -> float:
    times = []
    for repeat in range(repeats):
        out = root / f"out-{time.monotonic_ns()}-{repeat}"
        start = time.perf_counter()
        summary = run(out)
        times.append(time.perf_counter() - start)
        failed = [row for row in summary.rows if row.status.value != "ok"]
        assert not failed, failed[:2]
        shutil.rmtree(out)
    return min(times)


def _warm() -> str:
    """Runs on each worker: import what planning needs, as the first case would."""
    import spinetv.case
    import spinetv.outputs
    import spinetv.pipeline  # noqa: F401

    return str(os.getpid())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    import dask
    import distributed

    from spinetv.batch import run_batch
    from spinetv.batch.executors import ALLOWED_WORKER_DEATHS

    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cases = _cohort(root, args.cases)
        runs = len(cases) * len(ARMS)
        seconds["in this process (jobs=1)"] = _best(
            lambda out: run_batch(cases, out, jobs=1), root, args.repeats
        )
        seconds["process pool (jobs=2)"] = _best(
            lambda out: run_batch(cases, out, jobs=2), root, args.repeats
        )
        for workers in (1, 2):
            start = time.perf_counter()
            with dask.config.set(
                {"distributed.scheduler.allowed-failures": ALLOWED_WORKER_DEATHS}
            ), distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster, distributed.Client(cluster) as client:
                client.run(_warm)
                seconds[f"Dask start-up, {workers} worker(s)"] = time.perf_counter() - start
                seconds[f"Dask, {workers} worker(s)"] = _best(
                    lambda out, c=client: run_batch(cases, out, client=c), root, args.repeats
                )

    serial = seconds["in this process (jobs=1)"]
    dask1 = seconds["Dask, 1 worker(s)"]
    dask2 = seconds["Dask, 2 worker(s)"]
    pool = seconds["process pool (jobs=2)"]
    result = {
        "cases": len(cases),
        "protocols": list(ARMS),
        "case_protocol_runs": runs,
        "repeats": args.repeats,
        "seconds": seconds,
        "seconds_per_case_in_this_process": serial / len(cases),
        "dask_overhead_per_case_s": (dask1 - serial) / len(cases),
        "speed_up_dask_2_vs_1_worker": dask1 / dask2,
        "speed_up_pool_2_vs_in_this_process": serial / pool,
        "dask_2_workers_vs_pool": pool / dask2,
        "cpus": os.cpu_count(),
        "versions": {"dask": dask.__version__, "distributed": distributed.__version__},
        "machine": platform.platform(),
        "python": platform.python_version(),
    }
    width = max(map(len, seconds))
    for name, value in seconds.items():
        print(f"{name:<{width}}  {value:7.2f} s")
    print(f"per case in this process      {result['seconds_per_case_in_this_process']:.3f} s")
    print(f"Dask overhead per case        {result['dask_overhead_per_case_s']:.3f} s")
    print(f"speed-up Dask 2 vs 1 worker   {result['speed_up_dask_2_vs_1_worker']:.2f}x")
    print(f"speed-up pool 2 vs 1 process  {result['speed_up_pool_2_vs_in_this_process']:.2f}x")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
