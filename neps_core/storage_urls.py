"""Which storage a URL such as ``storage="sqlite:///runs.db"`` selects.

A storage lists the URL schemes it takes in ``schemes``; one that lists none keeps its data
in the run's root directory, so a URL given to it would be recorded and then ignored.
"""

from __future__ import annotations

from urllib.parse import urlparse

from neps_core.errors import SettingsError, UnknownPluginError
from neps_core.interfaces import Storage
from neps_core.registry import Registry


def storage_for_url(url: str, storages: Registry[type[Storage]]) -> type[Storage]:
    """The storage listing ``url``'s scheme, the one named like it first (a plugin's subclass
    of the sqlite storage lists ``sqlite`` too); an error naming the URL if none (or several
    others) do."""
    scheme = urlparse(url).scheme
    takers = {cls for cls in storages.values() if scheme in cls.schemes}
    named = [cls for cls in takers if cls.name == scheme]
    if len(takers) == 1 or named:
        return (named or list(takers))[0]
    if takers:
        names = sorted(cls.name for cls in takers)
        raise SettingsError(
            f"storage {url!r}: storages {names} all take {scheme}:// URLs; name one, "
            f"e.g. storage={{'name': {names[0]!r}, 'url': {url!r}}}"
        )
    if scheme in storages or storages.unavailable(scheme):  # a broken plugin's error, if so
        refuse_a_url(storages[scheme], url)
    schemes = sorted({f"{s}://" for cls in storages.values() for s in cls.schemes})
    advice = f"URLs with these schemes select a storage: {', '.join(schemes) or 'none'}."
    raise UnknownPluginError("storage", url, storages, [], advice)


def refuse_a_url(cls: type[Storage], url: str) -> None:
    """Refuse ``url`` for a storage that does not take its scheme."""
    scheme = urlparse(url).scheme
    if scheme in cls.schemes:
        return
    if cls.schemes:
        takes = f"takes {', '.join(f'{s}://' for s in cls.schemes)} URLs"
    else:
        takes = "takes no URL: its files are in the root directory"
    raise SettingsError(f"storage {cls.name!r} {takes}, got {url!r}")
