"""Databases of runs that older versions of neps_core started.

Before ec3a97e a run did not record its root directory in its database, so a copy of its
root (``cp -r``) that names the same database by URL could not be told from the original:
the first write of this version records the root (``record_root``), and the check of
``neps_core.shared_databases`` works from then on.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path


def record_root(connection: sqlite3.Connection, root: Path) -> None:
    """Record ``root`` as the run's root where its info records none (in a write transaction
    of the caller; a run info that cannot be read is left to the reader to report)."""
    row = connection.execute("SELECT data FROM run_info WHERE id = 1").fetchone()
    try:
        data = None if row is None else json.loads(row[0])
    except ValueError:
        return
    if isinstance(data, dict) and data.get("root_directory") is None:
        data["root_directory"] = str(root.resolve())
        connection.execute("UPDATE run_info SET data = ? WHERE id = 1", (json.dumps(data),))
