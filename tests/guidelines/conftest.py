"""Fixtures of the guideline tests: block vertebrae from :mod:`_ctv_blocks`."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from _ctv_blocks import SyntheticSpine, make_spine


@pytest.fixture(scope="session")
def spine_factory() -> Callable[..., SyntheticSpine]:
    """Build a synthetic spine: ``spine_factory(("L1", "L2"), flip_lr=False)``."""
    return make_spine


@pytest.fixture(scope="session")
def spine_l2() -> SyntheticSpine:
    """One block vertebra labelled L2."""
    return make_spine(("L2",))
