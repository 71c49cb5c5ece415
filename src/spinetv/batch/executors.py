"""Where the cases of a batch run: in this process, a local process pool, or a Dask cluster.

Each executor takes a function and its tasks and yields ``(task, outcome)`` as tasks finish, in
any order. The function never raises for a task's own failure (a bad case is a ``failed`` row,
made by the function itself); an exception here means the infrastructure failed the task (a
worker process killed, out of memory, a lost connection), and the executor yields it as a
:class:`WorkerLost` with its cause instead of a result.

Dask (``distributed``) is optional and imported only when a Dask executor is asked for; a
missing package is a one-line :class:`~spinetv.errors.SpinetvError` naming the ``cluster`` extra.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import uuid
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any, TypeVar

from spinetv.errors import SpinetvError, SpinetvWarning
from spinetv.version import build_id

__all__ = [
    "ALLOWED_WORKER_DEATHS",
    "CLUSTER_EXTRA_HINT",
    "WorkerLost",
    "WorkerVersionError",
    "check_workers",
    "dashboard_link",
    "import_distributed",
    "open_client",
    "parse_scheduler",
    "run_in_pool",
    "run_in_process",
    "run_on_dask",
    "worker_slots",
]

log = logging.getLogger("spinetv")

T = TypeVar("T")
R = TypeVar("R")

#: How many times a case may lose its worker (killed, out of memory) before it is reported
#: failed, on a cluster started by spinetv (``local:N``): a case is tried at most 3 times. A
#: running scheduler applies its own ``distributed.scheduler.allowed-failures`` (default 3).
ALLOWED_WORKER_DEATHS = 2

CLUSTER_EXTRA_HINT = 'pip install "spinetv[cluster]"'


class WorkerVersionError(SpinetvError):
    """A Dask worker runs another spinetv version than the client (or cannot import spinetv)."""


@dataclass(frozen=True)
class WorkerLost:
    """A task the infrastructure failed (its worker died too often, a connection was lost).

    Parameters
    ----------
    cause : str
        One line saying what happened (which worker, how many attempts).
    """

    cause: str


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


# ---- in this process and in a local process pool --------------------------------------------
def run_in_process(fn: Callable[[T], R], tasks: Iterable[T]) -> Generator[tuple[T, R], None, None]:
    """Run the tasks one after the other in this process.

    Parameters
    ----------
    fn : callable
        The work of one task; it reports a task's own failure in its result.
    tasks : iterable
        The tasks, run in this order.

    Yields
    ------
    tuple
        ``(task, fn(task))``.
    """
    for task in tasks:
        yield task, fn(task)


def _ignore_interrupts() -> None:
    """Worker initializer: leave SIGINT to the parent process."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


#: Times the local pool is rebuilt after a worker process died before the tasks it left
#: unfinished are run one per process, so that a task that kills its process fails alone.
POOL_RESTARTS = 1


def run_in_pool(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int
) -> Generator[tuple[T, R | WorkerLost], None, None]:
    """Run the tasks in a pool of ``workers`` local processes (started with ``spawn``).

    Parameters
    ----------
    fn : callable
        The work of one task, a module-level function (it is pickled by name).
    tasks : sequence
        The tasks; each is pickled to its worker.
    workers : int
        Worker processes (at most one per task).

    Yields
    ------
    tuple
        ``(task, result)`` as tasks finish, or ``(task, WorkerLost)`` when its worker process
        died. Closing the generator early cancels the tasks not started and waits for the
        running ones (their outputs are written atomically).

    Notes
    -----
    A process that dies (killed, out of memory) breaks the whole pool: every task it had
    not finished fails with it, whichever task killed it. Those tasks are run again in a new
    pool (:data:`POOL_RESTARTS` times), then one per process, where a task that kills its
    process is reported lost on its own and the others finish.
    """
    pending = list(tasks)
    restarts = 0
    while pending:
        alone = restarts > POOL_RESTARTS
        groups = [[task] for task in pending] if alone else [pending]
        unfinished: list[T] = []
        for group in groups:
            for task, outcome in _run_pool_once(fn, group, 1 if alone else workers):
                if not isinstance(outcome, _PoolBroken):
                    yield task, outcome
                elif alone:
                    yield task, WorkerLost(
                        f"worker process died ({outcome.cause}) in {restarts + 1} attempts, "
                        "the last one alone"
                    )
                else:
                    unfinished.append(task)
        pending = unfinished
        if pending:
            restarts += 1
            log.warning(
                "a worker process died; %d unfinished case(s) run again%s",
                len(pending),
                ", one per process" if restarts > POOL_RESTARTS else "",
            )


@dataclass(frozen=True)
class _PoolBroken:
    cause: str


def _run_pool_once(
    fn: Callable[[T], R], tasks: Sequence[T], workers: int
) -> Generator[tuple[T, R | WorkerLost | _PoolBroken], None, None]:
    """One pool over ``tasks``: ``(task, result)``, ``(task, _PoolBroken)`` for a task a dead
    worker process left unfinished, or ``(task, WorkerLost)`` for a task that failed
    otherwise in the pool's machinery."""
    # "spawn" behaves the same on every platform and avoids forking a process that holds
    # threads (BLAS, a test runner); each worker imports spinetv once and is reused.
    # Workers ignore Ctrl-C (a terminal sends it to the whole process group): the parent
    # alone stops, lets the cases in hand finish their atomic writes and cancels the rest.
    pool = ProcessPoolExecutor(
        max_workers=max(1, min(workers, len(tasks))),
        mp_context=get_context("spawn"),
        initializer=_ignore_interrupts,
    )
    finished = False
    try:
        futures = {pool.submit(fn, task): task for task in tasks}
        for future in as_completed(futures):
            task = futures[future]
            try:
                outcome: R | WorkerLost | _PoolBroken = future.result()
            except BrokenProcessPool as error:
                outcome = _PoolBroken(_one_line(error))
            except Exception as error:  # the pool could not run it (pickling, a lost pipe)
                outcome = WorkerLost(f"worker process failed: {_one_line(error)}")
            yield task, outcome
        finished = True
    finally:
        pool.shutdown(wait=True, cancel_futures=not finished)


# ---- Dask ------------------------------------------------------------------------------------
def import_distributed() -> Any:
    """The ``distributed`` package, or a one-line error naming the extra that provides it.

    Returns
    -------
    module
        ``distributed``.

    Raises
    ------
    SpinetvError
        When ``distributed`` is not installed.
    """
    try:
        import distributed
    except ImportError:
        raise SpinetvError(
            f"running on Dask needs the cluster extra: {CLUSTER_EXTRA_HINT}"
        ) from None
    return distributed


def parse_scheduler(text: str) -> int | str:
    """A ``--scheduler`` value: ``local:N`` (a local cluster of N workers) or an address.

    Parameters
    ----------
    text : str
        ``local:N``, ``local`` (2 workers) or a scheduler address such as ``tcp://host:8786``
        (a bare ``host:port`` is taken as TCP).

    Returns
    -------
    int or str
        The number of local workers, or the address.

    Raises
    ------
    SpinetvError
        An empty value or a worker count that is not a whole number of at least 1.
    """
    value = text.strip()
    if not value:
        raise SpinetvError("--scheduler: expected an address (tcp://host:8786) or local:N")
    if value == "local":
        return 2
    if value.startswith("local:"):
        count = value.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise SpinetvError(
                f"--scheduler {value}: expected local:N with N a whole number of workers >= 1"
            )
        return int(count)
    return value


@contextlib.contextmanager
def open_client(scheduler: str, *, timeout_s: float = 30.0) -> Iterator[Any]:
    """A Dask client on a running scheduler, or on a local cluster started for the block.

    Parameters
    ----------
    scheduler : str
        ``tcp://host:8786`` (a running scheduler) or ``local:N`` (N local worker processes of
        one thread each, stopped when the block ends); see :func:`parse_scheduler`.
    timeout_s : float, default 30
        How long to wait for the scheduler to answer, s.

    Yields
    ------
    distributed.Client
        The client, closed when the block ends.

    Raises
    ------
    SpinetvError
        ``distributed`` is not installed, a bad value, or no scheduler answers at the address.
    """
    target = parse_scheduler(scheduler)
    distributed = import_distributed()
    import dask

    with contextlib.ExitStack() as stack:
        if isinstance(target, int):
            # The scheduler reads allowed-failures when it starts: set it for our own cluster.
            stack.enter_context(
                dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_WORKER_DEATHS})
            )
            cluster = stack.enter_context(
                distributed.LocalCluster(
                    n_workers=target,
                    threads_per_worker=1,
                    processes=True,
                    host="127.0.0.1",
                    dashboard_address=":0",
                )
            )
            client = stack.enter_context(distributed.Client(cluster))
        else:
            try:
                client = distributed.Client(target, timeout=f"{timeout_s}s")
            except OSError as error:
                raise SpinetvError(
                    f"--scheduler {scheduler}: no Dask scheduler answered ({_one_line(error)})"
                ) from None
            stack.callback(client.close)
        yield client


def dashboard_link(client: Any) -> str | None:
    """The address of the scheduler's dashboard, or None when it serves none.

    Parameters
    ----------
    client : distributed.Client
        A connected client.

    Returns
    -------
    str or None
        The dashboard URL (it needs ``bokeh`` on the scheduler).
    """
    try:
        services = client.scheduler_info().get("services", {})
    except Exception:  # an old or unusual scheduler: no link rather than a failed batch
        return None
    if "dashboard" not in services:
        return None
    return str(client.dashboard_link)


def worker_slots(client: Any) -> int:
    """Threads over all the client's current workers (cases that can run at once).

    Parameters
    ----------
    client : distributed.Client
        A connected client.

    Returns
    -------
    int
        The sum of the workers' threads (0 when no worker has joined yet).
    """
    return int(sum(client.nthreads().values()))


def _worker_version() -> str:
    """Runs on each worker: the spinetv build it imports (version and source digest)."""
    return build_id()


def check_workers(client: Any) -> dict[str, str]:
    """Check that every current worker runs this spinetv build (version and code digest).

    Parameters
    ----------
    client : distributed.Client
        A connected client.

    Returns
    -------
    dict of str to str
        Worker address to its spinetv build id (all equal to this one's).

    Raises
    ------
    WorkerVersionError
        A worker cannot import spinetv, or runs another version; the message names the workers.
    """
    mine = build_id()
    try:
        versions = {str(k): str(v) for k, v in client.run(_worker_version).items()}
    except Exception as error:
        raise WorkerVersionError(
            f"Dask workers at {client.scheduler.address} cannot run spinetv "
            f"({_one_line(error)}); install spinetv {mine} on every worker"
        ) from None
    wrong = {address: v for address, v in sorted(versions.items()) if v != mine}
    if wrong:
        listed = ", ".join(f"{address} has {v}" for address, v in wrong.items())
        raise WorkerVersionError(
            f"Dask workers run another spinetv build than this client ({mine}: version and "
            f"a digest of its code and data): {listed}; install the same one everywhere"
        )
    busy = [address for address, n in client.nthreads().items() if n > 1]
    if busy:
        warnings.warn(
            f"Dask workers {', '.join(sorted(busy))} run several threads: cases planned in "
            "threads of one process may see each other's warnings; start workers with "
            "--nthreads 1 (and more workers)",
            SpinetvWarning,
            stacklevel=2,
        )
    return versions


#: Times a task whose workers died (``KilledWorker``) is submitted again as a new task: a
#: good case queued on a worker that another case killed is charged with that death too.
DASK_RESUBMITS = 1


def _call_checked(fn: Callable[[T], R], task: T, expected: str) -> R:
    """Runs on a worker: ``fn(task)``, after checking the worker's spinetv version.

    A worker that joined after :func:`check_workers` is checked here.
    """
    mine = build_id()
    if mine != expected:
        raise WorkerVersionError(
            f"a Dask worker runs spinetv {mine}, the client {expected}; install the same "
            "build everywhere"
        )
    return fn(task)


def _lost_cause(error: BaseException) -> str:
    name = type(error).__name__
    if name == "KilledWorker":
        attempts = getattr(error, "allowed_failures", None)
        last = getattr(getattr(error, "last_worker", None), "address", None)
        if attempts is None or last is None:
            return f"the Dask workers running this case died (killed, out of memory?): {error}"
        return (
            f"the Dask worker running this case died on each of {attempts + 1} attempts "
            f"(killed, out of memory?), the last on {last}; not retried further "
            "(distributed.scheduler.allowed-failures)"
        )
    return f"Dask could not run this case: {_one_line(error)}"


def run_on_dask(
    fn: Callable[[T], R],
    tasks: Sequence[T],
    client: Any,
    *,
    key: Callable[[T], str] | None = None,
) -> Generator[tuple[T, R | WorkerLost], None, None]:
    """Run the tasks on a Dask cluster, one Dask task each.

    The tasks go to the workers as small values (file paths); workers read and write the files
    themselves, so they need the same storage and the same spinetv version (checked first).
    A task whose worker dies is run again on another worker by the scheduler, up to its
    ``allowed-failures`` times; then it is submitted once more as a new task
    (:data:`DASK_RESUBMITS`), since the scheduler also charges a death to the tasks queued on
    that worker, and after that it is yielded as :class:`WorkerLost`. A task is not
    retried for an exception of its own.

    Parameters
    ----------
    fn : callable
        The work of one task, a module-level function (workers import it by name).
    tasks : sequence
        The tasks.
    client : distributed.Client
        A connected client.
    key : callable, optional
        A readable name of a task, shown in its Dask key on the dashboard (default ``str``).

    Yields
    ------
    tuple
        ``(task, result)`` as tasks finish, or ``(task, WorkerLost)``. Closing the generator
        early cancels the tasks not finished.

    Raises
    ------
    WorkerVersionError
        A worker runs another spinetv version or cannot import it.
    """
    distributed = import_distributed()
    check_workers(client)
    expected = build_id()

    def submit(task: T) -> Any:
        return client.submit(
            _call_checked,
            fn,
            task,
            expected,
            key=f"spinetv-{(key or str)(task)}-{uuid.uuid4().hex[:8]}",
            pure=False,
            retries=0,
        )

    # future -> (task, times the task was submitted again after its workers died)
    futures: dict[Any, tuple[T, int]] = {submit(task): (task, 0) for task in tasks}
    pending = distributed.as_completed(list(futures))
    finished = False
    try:
        for future in pending:
            task, again = futures.pop(future)
            try:
                outcome: R | WorkerLost = future.result()
            except WorkerVersionError:
                raise
            except Exception as error:  # the task's own failures are results, not exceptions
                if type(error).__name__ == "KilledWorker" and again < DASK_RESUBMITS:
                    # The scheduler counts a worker's death against every task it held, the
                    # one that killed it and those merely queued there: once more, afresh.
                    renewed = submit(task)
                    futures[renewed] = (task, again + 1)
                    pending.add(renewed)
                    future.release()
                    continue
                outcome = WorkerLost(_lost_cause(error))
            yield task, outcome
            future.release()
        finished = True
    finally:
        if not finished:
            client.cancel(list(futures))
