"""Where the bundled sample case lives (a real CT with vertebra contours and a demonstration GTV).

The sample (``data/sample_rtstruct/``: ``CT/*.dcm`` and ``RS_sample.dcm``) is derived from
TotalSegmentator's Apache-2.0 test data; see its ``NOTICE.md``. It ships with the source
checkout, not inside the installed package, so an editable install or a checkout finds it
beside the sources; elsewhere point ``SPINETV_SAMPLE_DIR`` at a copy.
"""

from __future__ import annotations

import os
from pathlib import Path

from spinetv.errors import SpinetvError

__all__ = ["SAMPLE_DIR_ENV", "SAMPLE_GTV_NAME", "SampleDataError", "sample_case_dir"]

#: Environment variable naming the sample folder; it takes precedence over the checkout's copy.
SAMPLE_DIR_ENV = "SPINETV_SAMPLE_DIR"
#: ROI name of the demonstration GTV in the sample's RTSTRUCT.
SAMPLE_GTV_NAME = "GTV"

# src/spinetv/sample.py -> the repository root is three levels up.
_CHECKOUT_SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample_rtstruct"


class SampleDataError(SpinetvError):
    """The bundled sample case cannot be found (or is incomplete)."""


def _problem(folder: Path) -> str:
    """What is wrong with ``folder`` as a sample folder ("" when nothing)."""
    if not folder.is_dir():
        return "does not exist" if not folder.exists() else "is not a folder"
    if not (folder / "CT").is_dir():
        return "has no CT/ series folder"
    if not any(folder.glob("RS*.dcm")):
        return "has no RS*.dcm structure set"
    return ""


def sample_case_dir() -> Path:
    """The folder of the bundled sample case (``CT/`` series and ``RS_sample.dcm``).

    Returns
    -------
    Path
        ``$SPINETV_SAMPLE_DIR`` when that variable is set (and non-empty), else the
        repository's ``data/sample_rtstruct`` beside the package sources.

    Raises
    ------
    SampleDataError
        The folder named by ``SPINETV_SAMPLE_DIR`` or the checkout's folder is missing or lacks
        ``CT/`` or an ``RS*.dcm`` file (the installed wheel does not carry the sample).
    """
    configured = os.environ.get(SAMPLE_DIR_ENV, "").strip()
    if configured:
        folder = Path(configured).expanduser()
        problem = _problem(folder)
        if problem:
            raise SampleDataError(
                f"{SAMPLE_DIR_ENV}={configured}: the folder {problem}; expected the spinetv "
                "sample case (CT/ and RS_sample.dcm, as in data/sample_rtstruct of the source)"
            )
        return folder
    problem = _problem(_CHECKOUT_SAMPLE)
    if problem:
        raise SampleDataError(
            f"sample case not found: {_CHECKOUT_SAMPLE} {problem}; it ships with the spinetv "
            f"source checkout, not the installed package. Set {SAMPLE_DIR_ENV} to a copy of "
            "data/sample_rtstruct (or run scripts/make_sample_case.py)"
        )
    return _CHECKOUT_SAMPLE
