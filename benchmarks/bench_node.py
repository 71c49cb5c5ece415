"""The DICOM node under load: 10 phantom cases sent back to back to ``spinetv serve``.

Run from the project root::

    python benchmarks/bench_node.py [--cases 10] [--spacing 2,0.8,0.8]

``spinetv serve`` runs as its own process on 127.0.0.1, as in service. The planning system is
pynetdicom's storescu API in this process: each case (CT slices, then its RTSTRUCT) on one
association, the cases one after the other without waiting for results. The import node is a
pynetdicom storage SCP in this process, which notes when each result arrives.

Measured:

* per case, the time from the last object's C-STORE response (the node has the whole case on
  disk) to the result RTSTRUCT arriving at the import node: median and maximum, s; this holds
  the readiness check, reading the case, planning, writing RTSTRUCT, JSON and HTML report, and
  the C-STORE back, plus any wait behind the cases before it;
* the node's resident memory (VmRSS, sampled every 20 ms): idle after start, peak while the
  cases arrive and are planned, and idle again after the last result, MB;
* how responsive associations stay while cases are received and planned: a second peer
  opens an association and sends a C-ECHO every 250 ms during the load; the round trip
  (associate, echo, release), median and maximum, ms, against the same while idle;
* sending time per case (the node's receiving speed), and the wall time of the whole run.

Writes benchmarks/results/node.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "node.json"
SRC = Path(__file__).resolve().parents[1] / "src"
SPECS = (
    (("T12", "L1", "L2", "L3"), "L2", (1, 2), "left"),
    (("L1", "L2", "L3"), "L1", (1,), "focal"),
    (("T10", "T11", "T12"), "T11", (1, 6), "right"),
    (("L2", "L3", "L4"), "L3", (4,), "diffuse"),
    (("T8", "T9", "T10"), "T9", (2, 3), "left"),
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class Echoer(threading.Thread):
    """Times associate + C-ECHO + release every 250 ms."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from pynetdicom import AE
        from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

        ae = AE(ae_title="TPS")
        ae.add_requested_context(Verification)
        while not self.stop.wait(0.25):
            start = time.perf_counter()
            assoc = ae.associate("127.0.0.1", self.port, ae_title="SPINETV")
            if assoc.is_established:
                assoc.send_c_echo()
                assoc.release()
                self.samples.append((start, (time.perf_counter() - start) * 1000))

    def between(self, start: float, end: float) -> list[float]:
        return [ms for t, ms in self.samples if start <= t <= end]


class Sampler(threading.Thread):
    """Samples a process's resident memory every 20 ms, with the time of each sample."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.samples: list[tuple[float, float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            try:
                self.samples.append((time.perf_counter(), rss_mb(self.pid)))
            except OSError:
                return

    def peak(self, start: float, end: float) -> float:
        return max(v for t, v in self.samples if start <= t <= end)


def write_cases(root: Path, count: int, spacing: tuple[float, float, float]) -> list[Path]:
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

    folders = []
    for i in range(count):
        levels, level, sectors, side = SPECS[i % len(SPECS)]
        phantom = make_spine_phantom(
            levels=levels,
            spacing_mm=spacing,
            gtv=GtvSpec(level=level, sectors=sectors, body_side=side),
            seed=100 + i,
        )
        folders.append(root / f"case{i:02d}")
        write_phantom(phantom, folders[-1])
    return folders


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--spacing", default="2,0.8,0.8", help="slice, row, column spacing, mm")
    args = parser.parse_args()
    spacing = tuple(float(v) for v in args.spacing.split(","))
    assert len(spacing) == 3

    from pydicom import dcmread
    from pynetdicom import AE, evt
    from pynetdicom.sop_class import (  # type: ignore[attr-defined]
        CTImageStorage,
        RTStructureSetStorage,
        Verification,
    )

    arrivals: dict[str, float] = {}
    lock = threading.Lock()

    def on_result(event: Any) -> int:
        now = time.perf_counter()
        study = str(event.dataset.StudyInstanceUID)
        with lock:
            arrivals.setdefault(study, now)
        return 0x0000

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        cases = write_cases(root / "cases", args.cases, spacing)  # type: ignore[arg-type]
        print(f"{len(cases)} cases written ({time.perf_counter() - start:.1f} s)")
        first_ct = sorted((cases[0] / "CT").iterdir())
        shape = dcmread(first_ct[0], stop_before_pixels=True)
        series = f"{shape.Rows}x{shape.Columns}x{len(first_ct)} (first case)"
        slices = [len(list((c / "CT").iterdir())) for c in cases]
        megabytes = sum(p.stat().st_size for c in cases for p in c.rglob("*.dcm")) / 1e6

        dest = AE(ae_title="TPS_IMPORT")
        dest.add_supported_context(RTStructureSetStorage)
        dest_port = free_port()
        scp = dest.start_server(
            ("127.0.0.1", dest_port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_result)]
        )
        port = free_port()
        config = root / "node.toml"
        config.write_text(
            f"""[node]
ae_title = "SPINETV"
port = {port}
bind = "127.0.0.1"
store = "{root / 'store'}"

[[allow]]
ae_title = "TPS"

[[return_to]]
ae_title = "TPS_IMPORT"
host = "127.0.0.1"
port = {dest_port}
""",
            encoding="utf-8",
        )
        path = os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])
        env = {**os.environ, "PYTHONPATH": path}
        log = (root / "node.log").open("w")
        node = subprocess.Popen(
            [sys.executable, "-m", "spinetv", "serve", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        sampler = Sampler(node.pid)
        sampler.start()
        try:
            ae = AE(ae_title="TPS")
            ae.add_requested_context(CTImageStorage)
            ae.add_requested_context(RTStructureSetStorage)
            ae.add_requested_context(Verification)
            deadline = time.monotonic() + 60
            while True:
                assoc = ae.associate("127.0.0.1", port, ae_title="SPINETV")
                if assoc.is_established:
                    assoc.send_c_echo()
                    assoc.release()
                    break
                if time.monotonic() > deadline or node.poll() is not None:
                    raise SystemExit("the node did not start; see its log")
                time.sleep(0.2)
            echoer = Echoer(port)
            echoer.start()
            time.sleep(1.0)  # idle: started, nothing received
            idle_start = time.perf_counter()
            time.sleep(2.0)
            idle_rss = statistics.median(v for t, v in sampler.samples if t >= idle_start)
            idle_echo = echoer.between(idle_start, time.perf_counter())

            load_start = time.perf_counter()
            last_object: dict[str, float] = {}
            send_seconds = []
            for case in cases:
                files = [*sorted((case / "CT").iterdir()), case / "RTSTRUCT.dcm"]
                study = str(dcmread(files[-1], stop_before_pixels=True).StudyInstanceUID)
                begin = time.perf_counter()
                assoc = ae.associate("127.0.0.1", port, ae_title="SPINETV")
                assert assoc.is_established
                for path in files:
                    status = assoc.send_c_store(path)
                    assert status and status.Status == 0, path
                last_object[study] = time.perf_counter()
                assoc.release()
                send_seconds.append(last_object[study] - begin)
            deadline = time.monotonic() + 300
            while len(arrivals) < len(cases):
                if time.monotonic() > deadline:
                    raise SystemExit(f"only {len(arrivals)} of {len(cases)} results arrived")
                time.sleep(0.05)
            load_end = time.perf_counter()
            echoer.stop.set()
            load_echo = echoer.between(load_start, load_end)
            time.sleep(3.0)
            after_start = time.perf_counter()
            time.sleep(1.0)
            after_rss = statistics.median(v for t, v in sampler.samples if t >= after_start)
            peak_rss = sampler.peak(load_start, load_end)
        finally:
            sampler.stop.set()
            node.terminate()
            node.wait(30)
            log.close()
            scp.shutdown()
        node_log = (root / "node.log").read_text()
        latencies = [arrivals[s] - last_object[s] for s in last_object]

    planned = [line for line in node_log.splitlines() if " planned: " in line]
    plan_seconds = [float(line.rsplit("(", 1)[1].split()[0]) for line in planned]
    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform(),
                    "cpus": os.cpu_count()},
        "cases": len(cases),
        "series": series,
        "slices_per_case": slices,
        "megabytes_sent": round(megabytes, 1),
        "last_object_to_result_s": {
            "median": round(statistics.median(latencies), 3),
            "max": round(max(latencies), 3),
            "each": [round(v, 3) for v in latencies],
        },
        "node_plan_seconds_logged": {
            "median": round(statistics.median(plan_seconds), 3) if plan_seconds else None,
            "max": round(max(plan_seconds), 3) if plan_seconds else None,
        },
        "echo_round_trip_ms": {
            "idle": {"median": round(statistics.median(idle_echo), 1),
                     "max": round(max(idle_echo), 1), "n": len(idle_echo)},
            "under_load": {"median": round(statistics.median(load_echo), 1),
                           "max": round(max(load_echo), 1), "n": len(load_echo)},
        },
        "send_case_s": {"median": round(statistics.median(send_seconds), 3),
                        "max": round(max(send_seconds), 3)},
        "whole_run_s": round(load_end - load_start, 2),
        "node_rss_mb": {"idle": round(idle_rss, 1), "peak_under_load": round(peak_rss, 1),
                        "idle_after": round(after_rss, 1)},
        "log_lines": len(node_log.splitlines()),
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
