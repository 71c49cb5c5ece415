"""``spinetv batch``: plan many cases (and several protocols per case) from a CSV manifest."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from spinetv.batch import (
    MANIFEST_COLUMNS,
    BatchCase,
    BatchRow,
    BatchStatus,
    Shard,
    default_jobs,
    read_manifest,
    run_batch,
)
from spinetv.batch.executors import (
    dashboard_link,
    import_distributed,
    open_client,
    worker_slots,
)
from spinetv.commands._common import add_common_options
from spinetv.errors import SpinetvError

__all__ = ["register", "run", "ProgressBar"]

EPILOG = f"""manifest (CSV, header row; relative paths are relative to the manifest's folder):
  {",".join(MANIFEST_COLUMNS)}
  case01,case01/CT,case01/RS.dcm,GTV,auto,chictr1900023401-involved;chictr1900023401-whole,
  case02,case02/CT,,case02/gtv.nii.gz,L1;L2,sib-sbrt-2025,case02/seg.nii.gz

outputs: OUT/<case_id>/<protocol>/RS.dcm and report.json (figures/, report.html on request),
  OUT/summary.csv (one row per case and protocol). A rerun resumes: finished case/protocol
  pairs are skipped (status skipped-resumed), failed ones are retried.

exit code: 0 all ok, 1 some case/protocol failed (see summary.csv), 2 bad manifest or options.

examples:
  spinetv batch cohort.csv --out results/ --jobs 4
  spinetv batch cohort.csv --out results/ --figures --html
  spinetv batch cohort.csv --out results/ --force       # redo everything
  spinetv batch cohort.csv --out results/ --scheduler local:4          # local Dask cluster
  spinetv batch cohort.csv --out results/ --scheduler tcp://head:8786  # running scheduler
  spinetv batch cohort.csv --out results/ --shard 3/10  # part 3 of 10 (job arrays)
  spinetv batch-merge results/                          # then join the parts' summaries
"""


def register(subparsers: Any) -> None:
    """Add the ``batch`` sub-command."""
    parser = subparsers.add_parser(
        "batch",
        help="plan many cases and protocols from a CSV manifest",
        description="Read each case of the manifest once, plan every protocol of its row on "
        "it in parallel worker processes, and write one folder per case and protocol plus "
        "summary.csv. A failing case is reported and the others finish.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("manifest", metavar="MANIFEST.csv", help="the cases, one row each")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument(
        "--jobs",
        type=int,
        default=default_jobs(),
        metavar="N",
        help=f"worker processes (default {default_jobs()}: min(2, CPUs))",
    )
    parser.add_argument(
        "--resume",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="skip case/protocol pairs an earlier run finished (default: resume)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS|local:N",
        help="run the cases on a Dask cluster: a running scheduler (tcp://host:8786) or "
        'local:N for N local workers (needs pip install "spinetv[cluster]"); --jobs is then '
        "not used",
    )
    parser.add_argument(
        "--shard",
        metavar="K/N",
        help="run only part K of N of the manifest (round robin, 1 <= K <= N); its summary is "
        "summary.shard-K-of-N.csv, joined by 'spinetv batch-merge DIR'",
    )
    parser.add_argument("--figures", action="store_true", help="also write QA figures (PNG)")
    parser.add_argument(
        "--html", action="store_true", help="also write a self-contained report.html"
    )
    add_common_options(parser)
    parser.set_defaults(func=run)


class ProgressBar:
    """A one-line progress display on a terminal, one line per result otherwise.

    The line shows rows done of the total, failed rows, cases running, the elapsed time and an
    estimate of the time left (from the rows computed so far; resumed rows cost nothing).

    Parameters
    ----------
    stream : text stream
        Where to write (stderr).
    cases : sequence of BatchCase, optional
        The cases of the run, to count the ones still running.
    slots : int, optional
        Cases that can run at once (worker processes or Dask worker threads).
    width : int, default 30
        Characters of the bar.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        cases: Sequence[BatchCase] = (),
        slots: int | None = None,
        width: int = 30,
    ) -> None:
        self.stream = stream
        self.width = width
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.slots = slots
        self._protocols_left = {case.case_id: len(case.protocols) for case in cases}
        self._start = time.perf_counter()
        self._failed = 0
        self._computed = 0

    def __call__(self, done: int, total: int, row: BatchRow) -> None:
        """Show that ``done`` of ``total`` are known, the last being ``row``."""
        if row.status is BatchStatus.FAILED:
            self._failed += 1
        if row.status is not BatchStatus.RESUMED:
            self._computed += 1
        if row.case_id in self._protocols_left:
            self._protocols_left[row.case_id] -= 1
            if self._protocols_left[row.case_id] <= 0:
                del self._protocols_left[row.case_id]
        elapsed = time.perf_counter() - self._start
        filled = self.width * done // max(total, 1)
        bar = "#" * filled + "." * (self.width - filled)
        parts = [f"[{bar}] {done}/{total} done", f"{self._failed} failed"]
        if self.slots is not None and done < total:
            parts.append(f"{min(self.slots, len(self._protocols_left))} running")
        parts.append(f"{_clock(elapsed)} elapsed")
        if done < total and self._computed:
            parts.append(f"~{_clock(elapsed / self._computed * (total - done))} left")
        text = ", ".join(parts) + f" | {row.case_id} {row.protocol}: {row.status.value}"
        if self.tty:
            end = "\n" if done == total else ""
            self.stream.write(f"\r\033[K{text}{end}")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    """``m:ss`` (or ``h:mm:ss``) of a duration in s."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def run(args: argparse.Namespace) -> int:
    """Run ``spinetv batch``."""
    if args.jobs < 1:
        raise SpinetvError(f"--jobs: expected at least 1, got {args.jobs}")
    shard = None if args.shard is None else Shard.parse(args.shard)
    cases = read_manifest(args.manifest)
    with contextlib.ExitStack() as stack:
        client = None
        slots: int | None = args.jobs
        if args.scheduler is not None:
            # distributed sets its loggers to INFO when imported: its chatter only with -vv
            import_distributed()
            if args.verbose < 2:
                logging.getLogger("distributed").setLevel(logging.WARNING)
            client = stack.enter_context(open_client(args.scheduler))
            link = dashboard_link(client)
            workers = len(client.nthreads())
            print(
                f"Dask scheduler {client.scheduler.address}: {workers} worker(s)"
                + (f", dashboard {link}" if link else ""),
                file=sys.stderr,
            )
            slots = worker_slots(client) or None
        selected = cases if shard is None else shard.select(cases)
        summary = run_batch(
            cases,
            args.out,
            jobs=args.jobs,
            resume=args.resume,
            force=args.force,
            figures=args.figures,
            html=args.html,
            progress=ProgressBar(sys.stderr, cases=selected, slots=slots),
            client=client,
            shard=shard,
        )
    ok = summary.count(BatchStatus.OK)
    resumed = summary.count(BatchStatus.RESUMED)
    failed = summary.failed
    n_cases = len({row.case_id for row in summary.rows})
    print(
        f"{len(summary.rows)} case/protocol runs of {n_cases} cases: {ok} ok, "
        f"{resumed} resumed, {len(failed)} failed ({summary.seconds:.1f} s); "
        f"summary: {summary.summary_path}"
    )
    if failed:
        for row in failed:
            print(f"  failed: {row.case_id} {row.protocol}: {row.error}", file=sys.stderr)
        print(f"spinetv batch: {len(failed)} case/protocol run(s) failed", file=sys.stderr)
        return 1
    return 0
