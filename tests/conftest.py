"""Shared fixtures: the real data beside the project, skipped with a reason where it is absent;
a lumbar phantom case written as DICOM, read back, and a TotalSegmentator-style label map of it.

The phantom fixtures import spinetv inside their bodies, so collecting a test that does not use
them imports nothing more than before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` next to the project; tests using it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real test data not present: {SHARED_DATA} is absent")
    return SHARED_DATA


#: TotalSegmentator ``total`` labels of the phantom's vertebrae and of the cord.
TOTAL_IDS = {"L1": 31, "L2": 30, "L3": 29}
CORD_ID = 79


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A lumbar phantom (L1-L3, GTV in L2 sectors 1-2) as a CT folder and its RTSTRUCT."""
    from spinetv.phantom import GtvSpec, make_spine_phantom, write_phantom

    phantom = make_spine_phantom(
        levels=("L1", "L2", "L3"),
        spacing_mm=(2.0, 1.0, 1.0),
        gtv=GtvSpec(level="L2", sectors=(1, 2), body_side="left"),
        seed=3,
    )
    return write_phantom(phantom, tmp_path_factory.mktemp("case"))


@pytest.fixture(scope="module")
def contoured(written: tuple[Path, Path]):  # type: ignore[no-untyped-def]
    """The ``written`` case read back with its contoured GTV."""
    from spinetv.case import load_case

    ct, rs = written
    return load_case(ct, rs, gtv="GTV")


@pytest.fixture(scope="module")
def labelmap(
    written: tuple[Path, Path], contoured, tmp_path_factory: pytest.TempPathFactory
) -> Path:  # type: ignore[no-untyped-def]  # noqa: E501
    """TotalSegmentator-style labels: the contoured vertebrae, and a 'cord' in the L2 body."""
    import numpy as np

    from spinetv.geometry.labels import LabelMap
    from spinetv.io.images import write_label_image

    grid = contoured.anatomy.grid
    full = np.zeros(grid.shape, dtype=np.uint8)
    for level, label in TOTAL_IDS.items():
        full[contoured.anatomy.vertebrae[level].to_array()] = label
    # A cord deliberately elsewhere than the contoured one (in front of the L2 body, clear of
    # every vertebra), so the two are told apart.
    body = contoured.anatomy.vertebrae["L2"].to_array()
    k, _, i = (int(np.median(a)) for a in np.nonzero(body))
    j = int(np.nonzero(body)[1].min()) - 8
    spot = (slice(k - 1, k + 2), slice(j - 2, j + 3), slice(i - 2, i + 3))
    assert not full[spot].any()
    full[spot] = CORD_ID
    path = tmp_path_factory.mktemp("seg") / "seg.nii.gz"
    write_label_image(LabelMap.from_array(grid, full), path)
    return path
