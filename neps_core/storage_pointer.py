"""A root's ``storage.yaml``: which storage (and, by URL, which database) holds its run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from neps_core.errors import SettingsError
from neps_core.serialization import describe_yaml_error, read_yaml

STORAGE_POINTER_FILE = "storage.yaml"


def read_pointer(pointer: Path) -> dict[str, Any] | None:
    """The storage ``pointer`` names; ``None`` if there is no such file."""
    try:
        data = read_yaml(pointer)
    except FileNotFoundError:
        return None
    except yaml.YAMLError as error:
        raise SettingsError(
            f"{pointer} is damaged: not valid YAML ({describe_yaml_error(error)})"
        ) from None
    if not isinstance(data, dict) or "name" not in data:
        raise SettingsError(f"{pointer} is damaged: expected a mapping with a 'name'")
    return data
