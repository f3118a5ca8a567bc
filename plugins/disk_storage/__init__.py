"""The ``disk`` storage plugin (the default): see ``.storage`` for layout and guarantees."""

from collections.abc import Sequence

from neps_core import hookimpl
from neps_core.interfaces import Storage
from neps_core_plugins.disk_storage.storage import DiskStorage


@hookimpl
def neps_register_storages() -> Sequence[type[Storage]]:
    """Register the disk storage."""
    return [DiskStorage]
