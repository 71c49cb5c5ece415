"""TotalSegmentator label maps as named vertebra, sacrum and spinal-cord masks.

Label ids follow ``totalsegmentator/map_to_binary.py`` (``class_map``) of TotalSegmentator v2:
task ``total`` and task ``vertebrae_pp``. Only the spine labels are mapped; other organs are
ignored. The labels are model predictions, not ground truth: neighbouring levels are confused
in a few per cent of cases, so callers should let users override levels.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from spinetv.errors import ImageInputError
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.images import read_label_map

__all__ = ["TotalSegmentator", "read_totalsegmentator"]


def _total_v2() -> dict[int, str]:
    labels = {25: "Sacrum", 26: "S1"}
    labels.update({27 + i: f"L{5 - i}" for i in range(5)})  # 27 L5 .. 31 L1
    labels.update({32 + i: f"T{12 - i}" for i in range(12)})  # 32 T12 .. 43 T1
    labels.update({44 + i: f"C{7 - i}" for i in range(7)})  # 44 C7 .. 50 C1
    labels[79] = "SpinalCord"
    return labels


def _vertebrae_pp() -> dict[int, str]:
    labels = {1 + i: f"C{1 + i}" for i in range(7)}  # 1 C1 .. 7 C7
    labels.update({8 + i: f"T{1 + i}" for i in range(12)})  # 8 T1 .. 19 T12
    labels.update({20 + i: f"L{1 + i}" for i in range(5)})  # 20 L1 .. 24 L5
    return labels


class TotalSegmentator:
    """Spine label ids of TotalSegmentator tasks, mapped to spinetv names.

    Attributes
    ----------
    TASKS : mapping of str to mapping of int to str
        For each task ("total" v2, "vertebrae_pp"), label id -> name. Names are vertebral
        levels ("C1".."C7", "T1".."T12", "L1".."L5", "S1"), "Sacrum" and "SpinalCord".
    """

    TOTAL: Mapping[int, str] = MappingProxyType(_total_v2())
    VERTEBRAE_PP: Mapping[int, str] = MappingProxyType(_vertebrae_pp())
    TASKS: Mapping[str, Mapping[int, str]] = MappingProxyType(
        {"total": TOTAL, "vertebrae_pp": VERTEBRAE_PP}
    )

    @classmethod
    def labels(cls, task: str = "total") -> Mapping[int, str]:
        """Label id -> spinetv name for ``task``."""
        try:
            return cls.TASKS[task]
        except KeyError:
            raise ImageInputError(
                f"unknown TotalSegmentator task {task!r}; expected one of {sorted(cls.TASKS)}"
            ) from None

    @classmethod
    def label_of(cls, name: str, task: str = "total") -> int:
        """The label id of a spinetv name ("L1", "Sacrum", "SpinalCord") in ``task``."""
        for label, known in cls.labels(task).items():
            if known.lower() == name.lower():
                return label
        raise ImageInputError(
            f"{name!r} is not a spine label of TotalSegmentator task {task!r}; expected one of "
            f"{', '.join(cls.labels(task).values())}"
        )


def read_totalsegmentator(
    path: str | os.PathLike[str], *, task: str = "total", grid: ImageGrid | None = None
) -> dict[str, Mask]:
    """Read a TotalSegmentator multi-label file as spine masks named by level.

    Parameters
    ----------
    path : path-like
        The multi-label NIfTI (or NRRD/MHA) written by TotalSegmentator (``--ml``).
    task : {"total", "vertebrae_pp"}
        Which label table the ids follow (``total`` is TotalSegmentator v2's).
    grid : ImageGrid, optional
        The image the labels were made on; the masks are put on it (same voxels required, see
        :func:`~spinetv.io.images.read_label_map`).

    Returns
    -------
    dict of str to Mask
        Only the spine labels present, named "C1".."L5", "S1", "Sacrum", "SpinalCord", ordered
        from the highest level (C1) down to the sacrum, then the cord.

    Raises
    ------
    ImageInputError
        Unknown task, unreadable file.
    GeometryMismatchError
        ``grid`` is given and the labels are on other voxels.
    """
    table = TotalSegmentator.labels(task)
    labelmap = read_label_map(path, grid=grid)
    masks: dict[str, Mask] = {}
    if not labelmap.box.is_empty:
        # One pass for every label's box, then each mask compares only its own box.
        boxes = ndimage.find_objects(np.asarray(labelmap.box_array, dtype=np.int64))
        for label, name in table.items():
            if label > len(boxes) or boxes[label - 1] is None:
                continue
            local = boxes[label - 1]
            box = BoundingBox(
                tuple(s.start + o for s, o in zip(local, labelmap.box.start)),
                tuple(s.stop + o for s, o in zip(local, labelmap.box.start)),
            )
            masks[name] = Mask.from_box(labelmap.grid, box, labelmap.box_array[local] == label)
    return dict(sorted(masks.items(), key=lambda item: _order(item[0])))


def _order(name: str) -> tuple[int, int]:
    regions = {"C": 0, "T": 1, "L": 2, "S": 3}
    if name == "Sacrum":
        return (4, 0)
    if name == "SpinalCord":
        return (5, 0)
    return (regions[name[0]], int(name[1:]))
