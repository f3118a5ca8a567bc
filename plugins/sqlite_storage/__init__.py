"""The ``sqlite`` storage plugin: see ``.storage`` for its guarantees, ``.schema`` for its
tables, ``.location`` for where the database lives and ``.older_versions`` for the databases of
runs older versions started."""

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Storage
from neps_core_plugins.sqlite_storage.location import database_path
from neps_core_plugins.sqlite_storage.storage import SQLiteStorage

__all__ = ["SQLiteStorage", "database_path"]


@hookimpl
def neps_register_storages() -> Sequence[type[Storage]]:
    """Register the SQLite storage."""
    return [SQLiteStorage]
