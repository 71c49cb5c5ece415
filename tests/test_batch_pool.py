"""The local process pool: a task that kills its worker process fails alone.

A dying process breaks a ``ProcessPoolExecutor`` whole: every task it had not finished fails
with it. :func:`spinetv.batch.executors.run_in_pool` runs those again, then one per process,
so only the task that kills its process is reported lost.
"""

from __future__ import annotations

import os

from spinetv.batch.executors import WorkerLost, run_in_pool


def _square_or_die(value: int) -> int:
    # Module level, so that spawned workers import it by name.
    if value < 0:
        os._exit(3)
    return value * value


def test_only_the_task_that_kills_its_process_is_lost() -> None:
    tasks = [1, 2, -1, 3, 4, 5]
    outcomes = dict(run_in_pool(_square_or_die, tasks, 2))
    assert sorted(outcomes) == sorted(tasks)  # each task once
    assert {t: outcomes[t] for t in tasks if t >= 0} == {1: 1, 2: 4, 3: 9, 4: 16, 5: 25}
    lost = outcomes[-1]
    assert isinstance(lost, WorkerLost)
    assert "died" in lost.cause and "alone" in lost.cause


def test_a_pool_without_deaths_runs_each_task_once() -> None:
    outcomes = list(run_in_pool(_square_or_die, [3, 1, 2], 2))
    assert sorted(outcomes) == [(1, 1), (2, 4), (3, 9)]
