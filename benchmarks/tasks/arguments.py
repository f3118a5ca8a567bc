"""Command-line argument types the benchmark scripts share."""

from __future__ import annotations

import argparse
from pathlib import Path


def existing_directory(text: str) -> Path:
    """``--directory``: refused at once when missing, not after the table's header with a
    traceback from the first temporary folder made in it."""
    path = Path(text).expanduser()
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"no directory {path}")
    return path
