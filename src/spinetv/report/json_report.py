"""JSON reports: every decision spinetv made, in a file a script or a reviewer can read."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np

from spinetv.io.atomic import write_text_atomic

__all__ = ["to_jsonable", "write_json_report"]


def to_jsonable(value: Any) -> Any:
    """Convert numpy values, dataclasses, enums, paths and tuples into plain JSON types.

    Non-finite floats become ``None`` so the report stays strict JSON.

    Parameters
    ----------
    value : Any
        The value to convert. An object with ``to_json_dict()`` is converted through it; sets
        are sorted; mapping keys become strings; other unknown objects are returned as is.

    Returns
    -------
    Any
        ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool`` or ``None`` (nested), the
        input's units unchanged.
    """
    if hasattr(value, "to_json_dict"):
        return to_jsonable(value.to_json_dict())
    if isinstance(value, Enum):
        return value.value
    if is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [to_jsonable(v) for v in items]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        number = float(value)
        return number if math.isfinite(number) else None
    if isinstance(value, (os.PathLike, Path)):
        return str(value)
    return value


def write_json_report(
    report: Mapping[str, Any], path: str | os.PathLike[str], *, overwrite: bool = False
) -> Path:
    """Write ``report`` as indented UTF-8 JSON, atomically, refusing to overwrite unless asked.

    Parameters
    ----------
    report : mapping of str to Any
        The report; converted with :func:`to_jsonable`.
    path : path-like
        The JSON file; missing parent folders are created.
    overwrite : bool, default False
        Replace an existing file.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputExistsError
        When ``path`` exists and ``overwrite`` is false, ``path`` is a folder, or a folder on
        its way is a file.
    """
    text = json.dumps(to_jsonable(report), indent=2, ensure_ascii=False, allow_nan=False)
    return write_text_atomic(path, text + "\n", overwrite=overwrite)
