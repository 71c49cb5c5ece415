"""A manifest cut into N deterministic parts (SLURM job arrays, GNU parallel), and their summaries
joined again.

Part K of N takes the cases at positions K-1, K-1+N, K-1+2N, ... of the manifest (round robin:
the parts differ by one case at most, and a part depends only on the manifest). Every part
writes into the same output folder (its cases' folders are its own) and its summary as
``summary.shard-K-of-N.csv``; :func:`merge_summaries` joins the N summaries into
``summary.csv`` in manifest order.
"""

from __future__ import annotations

import csv
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from spinetv.errors import SpinetvError
from spinetv.io.atomic import write_text_atomic

__all__ = ["Shard", "merge_summaries", "shard_summaries"]

T = TypeVar("T")

_SHARD_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
_SHARD_FILE_RE = re.compile(r"^summary\.shard-(\d+)-of-(\d+)\.csv$")


@dataclass(frozen=True)
class Shard:
    """Part ``index`` (1-based) of ``count`` parts of a manifest.

    Parameters
    ----------
    index : int
        Which part, 1 to ``count``.
    count : int
        How many parts, at least 1.
    """

    index: int
    count: int

    def __post_init__(self) -> None:
        if self.count < 1 or not 1 <= self.index <= self.count:
            raise SpinetvError(
                f"shard {self.index}/{self.count}: expected K/N with 1 <= K <= N"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        """A ``--shard`` value, ``K/N``.

        Parameters
        ----------
        text : str
            ``K/N``, for example ``3/10`` (SLURM: ``$SLURM_ARRAY_TASK_ID/10`` with
            ``--array=1-10``).

        Returns
        -------
        Shard
            The part.

        Raises
        ------
        SpinetvError
            Not two whole numbers, or K outside 1..N.
        """
        match = _SHARD_RE.match(text)
        if match is None:
            raise SpinetvError(f"--shard {text!r}: expected K/N, e.g. 1/4")
        return cls(int(match.group(1)), int(match.group(2)))

    def select(self, items: Sequence[T]) -> tuple[T, ...]:
        """This part's items: positions ``index - 1``, ``index - 1 + count``, ...

        Parameters
        ----------
        items : sequence
            The whole manifest (all parts must see the same one).

        Returns
        -------
        tuple
            The items of this part, in their order.
        """
        return tuple(items[self.index - 1 :: self.count])

    @property
    def summary_name(self) -> str:
        """File name of this part's summary, ``summary.shard-K-of-N.csv``."""
        return f"summary.shard-{self.index}-of-{self.count}.csv"


def shard_summaries(out_dir: str | os.PathLike[str]) -> dict[Shard, Path]:
    """The part summaries in an output folder.

    Parameters
    ----------
    out_dir : path-like
        The batch output folder.

    Returns
    -------
    dict of Shard to Path
        Each ``summary.shard-K-of-N.csv`` found, by part, in order of K.
    """
    found = {}
    for path in Path(out_dir).iterdir() if Path(out_dir).is_dir() else ():
        match = _SHARD_FILE_RE.match(path.name)
        if match and path.is_file():
            found[Shard(int(match.group(1)), int(match.group(2)))] = path
    return dict(sorted(found.items(), key=lambda item: (item[0].count, item[0].index)))


def _read_rows(path: Path, columns: Sequence[str]) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpinetvError(f"{path}: cannot read the part summary ({error})") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != tuple(columns):
        raise SpinetvError(
            f"{path}: expected the summary columns {', '.join(columns)}; found "
            f"{', '.join(reader.fieldnames or ())}"
        )
    return list(reader)


def _by_case(rows: list[dict[str, str]]) -> list[list[dict[str, str]]]:
    """Consecutive rows of one case, grouped (a case's protocols are adjacent)."""
    groups: list[list[dict[str, str]]] = []
    for row in rows:
        if groups and groups[-1][0]["case_id"] == row["case_id"]:
            groups[-1].append(row)
        else:
            groups.append([row])
    return groups


def merge_summaries(
    out_dir: str | os.PathLike[str], *, columns: Sequence[str], name: str = "summary.csv"
) -> tuple[Path, list[dict[str, str]]]:
    """Join the N part summaries of an output folder into one, in manifest order.

    Parameters
    ----------
    out_dir : path-like
        The batch output folder holding ``summary.shard-K-of-N.csv`` for K = 1..N.
    columns : sequence of str
        The summary's columns (each part must have exactly these).
    name : str, default "summary.csv"
        File name of the joined summary, written atomically in ``out_dir`` (replaced).

    Returns
    -------
    tuple of (Path, list of dict)
        The joined summary and its rows.

    Raises
    ------
    SpinetvError
        No part summary, parts of different N, a missing part, a case in two parts, or a part
        summary with other columns; the message names the folder or the file.
    """
    folder = Path(out_dir)
    parts = shard_summaries(folder)
    if not parts:
        raise SpinetvError(f"{folder}: no part summary (summary.shard-K-of-N.csv) to merge")
    counts = sorted({shard.count for shard in parts})
    if len(counts) > 1:
        raise SpinetvError(
            f"{folder}: part summaries of different splits (N = {', '.join(map(str, counts))}); "
            "remove the stale ones"
        )
    count = counts[0]
    missing = [k for k in range(1, count + 1) if Shard(k, count) not in parts]
    if missing:
        raise SpinetvError(
            f"{folder}: part(s) {', '.join(f'{k}/{count}' for k in missing)} missing; run them "
            "(spinetv batch ... --shard K/N) before merging"
        )
    groups = [_by_case(_read_rows(parts[Shard(k, count)], columns)) for k in range(1, count + 1)]
    # Round robin back: part K holds manifest positions K-1, K-1+N, ...
    merged: list[dict[str, str]] = []
    for position in range(max(len(g) for g in groups)):
        for part in groups:
            if position < len(part):
                merged.extend(part[position])
    seen: dict[tuple[str, str], int] = {}
    for row in merged:
        pair = (row["case_id"], row["protocol"])
        seen[pair] = seen.get(pair, 0) + 1
    twice = sorted(f"{c} {p}" for (c, p), n in seen.items() if n > 1)
    if twice:
        raise SpinetvError(f"{folder}: {', '.join(twice)} in more than one part summary")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(merged)
    path = write_text_atomic(folder / name, buffer.getvalue(), overwrite=True)
    return path, merged
