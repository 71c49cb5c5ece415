"""JSON reports: every decision spinetv made, in a file a script or a reviewer can read."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from spinetv.io.atomic import write_text_atomic
from spinetv.report.model import plain_json

__all__ = ["to_jsonable", "write_json_report"]


#: Numpy values, dataclasses, enums, paths, tuples and read-only mappings as plain JSON types
#: (non-finite floats become None): :func:`spinetv.report.model.plain_json`.
to_jsonable = plain_json


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
