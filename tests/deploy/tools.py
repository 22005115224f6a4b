"""Finding the command-line tools the deploy tests drive, and skipping (or, under CI, failing)
with the reason when one is missing."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"


def ci() -> bool:
    """Tell whether this run is CI's, where a missing tool is an error, not a skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def tool(name: str, *, install: str) -> str:
    """Return the path of `name` (the virtualenv's bin first), or skip: under CI, fail."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if found:
        return found
    why = f"{name} is not installed ({install})"
    if ci():
        pytest.fail(f"CI=true needs {why}")
    pytest.skip(why)
