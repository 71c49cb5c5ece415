"""TotalSegmentator (and VerSe) label maps as named vertebra, sacrum and spinal-cord masks.

Label ids follow ``totalsegmentator/map_to_binary.py`` (``class_map``) of TotalSegmentator v2:
task ``total`` and task ``vertebrae_pp``. Only the spine labels are mapped; other organs are
ignored. The labels are model predictions, not ground truth: neighbouring levels are confused
in a few per cent of cases, so callers should let users override levels.

Task ``verse`` reads the masks of the VerSe 2019/2020 benchmark (Sekuboyina et al., Med Image
Anal 2021;73:102166; label table of its data README): 1-7 C1-C7, 8-19 T1-T12, 20-24 L1-L5,
25 L6 and 28 T13 (transitional vertebrae), 26 sacrum. spinetv has no level L6 or T13: such a
vertebra is read under that name, left out of the levels with a warning, and can be given a
level with a mapping (``--vertebrae L6=L5`` once the levels above are renumbered).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from scipy import ndimage

from spinetv.errors import ImageInputError, SpinetvWarning
from spinetv.geometry.grid import BoundingBox, ImageGrid
from spinetv.geometry.mask import Mask
from spinetv.io.images import read_label_map

__all__ = ["TotalSegmentator", "ImageInputWarning", "TRANSITIONAL", "read_totalsegmentator"]


class ImageInputWarning(SpinetvWarning):
    """A label map holds something spinetv reads but does not use as it stands."""


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


def _verse() -> dict[int, str]:
    labels = _vertebrae_pp()  # 1 C1 .. 24 L5: the same numbering
    labels.update({25: "L6", 26: "Sacrum", 28: "T13"})
    return labels


#: Transitional vertebrae some label tables carry, which are not spinetv levels.
TRANSITIONAL: tuple[str, ...] = ("L6", "T13")


class TotalSegmentator:
    """Spine label ids of TotalSegmentator tasks, mapped to spinetv names.

    Attributes
    ----------
    TASKS : mapping of str to mapping of int to str
        For each task ("total" v2, "vertebrae_pp", "verse"), label id -> name. Names are
        vertebral levels ("C1".."C7", "T1".."T12", "L1".."L5", "S1"), "Sacrum", "SpinalCord",
        and the transitional "L6" and "T13" of VerSe.
    """

    TOTAL: Mapping[int, str] = MappingProxyType(_total_v2())
    VERTEBRAE_PP: Mapping[int, str] = MappingProxyType(_vertebrae_pp())
    VERSE: Mapping[int, str] = MappingProxyType(_verse())
    TASKS: Mapping[str, Mapping[int, str]] = MappingProxyType(
        {"total": TOTAL, "vertebrae_pp": VERTEBRAE_PP, "verse": VERSE}
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
    task : {"total", "vertebrae_pp", "verse"}
        Which label table the ids follow (``total`` is TotalSegmentator v2's; ``verse`` the
        VerSe benchmark's).
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
    for name in sorted(set(TRANSITIONAL) & set(masks)):
        warnings.warn(
            f"{path}: label {TotalSegmentator.label_of(name, task)} ({name}, a transitional "
            f"vertebra) is present; spinetv has no level {name}, so it is not used as a vertebra "
            "unless given a level with a mapping (--vertebrae)",
            ImageInputWarning,
            stacklevel=2,
        )
    return dict(sorted(masks.items(), key=lambda item: _order(item[0])))


def _order(name: str) -> tuple[int, int]:
    regions = {"C": 0, "T": 1, "L": 2, "S": 3}
    if name == "Sacrum":
        return (4, 0)
    if name == "SpinalCord":
        return (5, 0)
    return (regions[name[0]], int(name[1:]))
