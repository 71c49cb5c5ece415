"""The package version, in a module of its own: every layer may import it without importing
the package's public API (which would run back up the layers)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
