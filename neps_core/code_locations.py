"""Code named by its location in a setting: ``module:name`` or ``path/to/file.py:name``.

Run configs name the evaluation function, the space and plugins this way, and so may
``run()``'s string arguments. Everything is looked up from one base folder, the YAML file's
(or the working directory, for ``run()``): a relative file path is taken from there, and the
folder is put first on ``sys.path`` before the first lookup, so a module next to the YAML is
found whatever the order of the keys that name code.
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import re
import sys
import traceback
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn

from neps_core.errors import SettingsError
from neps_core.user_paths import user_path

#: A Windows path's drive (``C:\\``), the one ':' a location may hold.
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:(?=[\\/])")
#: How a setting names an object by its location, for errors.
LOCATION_FORMS = "'module:name' or 'path/to/file.py:name'"
#: The forms ``evaluate_pipeline`` takes in a run config, for errors.
FUNCTION_FORMS = (
    "'path/to/file.py:function_name' (or 'module:function_name'), "
    "{path: path/to/file.py, name: function_name} or {command: ...}"
)


class CodeLocator:
    """Loads the objects a settings file names; every error names ``source`` and the key."""

    def __init__(self, source: str, base: Path, written: Mapping[str, str] | None = None) -> None:
        self.source = source
        self.base = base
        self.written = {} if written is None else written  # a setting -> its spelling there

    def spelled(self, where: str) -> str:
        """The key path ``where`` with its setting as the file spells it (NePS's
        ``run_pipeline:`` or ``root_dir:``, say), which is what the user looks for."""
        setting, dot, rest = where.partition(".")
        return f"{self.written.get(setting, setting)}{dot}{rest}"

    def fail(self, where: str, message: str) -> NoReturn:
        raise SettingsError(f"{self.source}: {self.spelled(where)}: {message}")

    def refuse_other_keys(
        self, key: str, value: Mapping[Any, Any], known: Sequence[str], advice: str
    ) -> None:
        """Refuse keys of ``value`` other than ``known``, giving ``advice``. A mapping of
        only other keys, none a typo of one, is likely text YAML read as a mapping:
        ``train.py:`` ending a line is ``{train.py: None}``, a file without a function."""
        unknown = sorted(str(part) for part in value if part not in known)
        typos = [part for part in unknown if difflib.get_close_matches(part, known, n=1)]
        if unknown and len(unknown) == len(value) and not typos:
            self.fail(
                key, f"expected {FUNCTION_FORMS}, got the mapping {dict(value)!r}{_as_text(value)}"
            )
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"unknown key; use {advice}")

    def path(self, key: str, value: Any) -> Path:
        """``value`` as an absolute path; a relative one is taken from the base folder.

        An empty one is refused: a value left out, more likely than the base folder meant."""
        if not isinstance(value, str | Path):
            self.fail(key, f"expected a path, got {value!r}")
        if isinstance(value, str) and value.strip() == "":
            self.fail(key, f"expected a path, got '' (write '.' for {self.base})")
        path = user_path(value, f"{self.source}: {self.spelled(key)}")
        return path if path.is_absolute() else (self.base / path).resolve()

    def load(self, key: str, target: str) -> Any:
        """The object named by ``module:attr`` or ``path/to/file.py:attr``."""
        location, separator, attribute = target.rpartition(":")
        location = location.removesuffix(":")  # NePS's templates write path/to/file.py::name
        if not separator or not location or not attribute:
            self.fail(key, f"expected {LOCATION_FORMS}, got {target!r}")
        if ":" in _WINDOWS_DRIVE.sub("", location):  # no file or module holds one
            self.fail(
                key,
                f"expected {LOCATION_FORMS}, got {target!r}, which has more than one ':' "
                f"(read as {attribute!r} of {location!r})",
            )
        owner: Any = self.module(key, location)
        for part in attribute.split("."):
            if not hasattr(owner, part):
                self.fail(key, f"{location!r} has no attribute {attribute!r}")
            owner = getattr(owner, part)
        return owner

    def plugin(self, where: str, entry: str) -> object:
        """The plugin named ``module`` or ``module:name`` (a class is instantiated)."""
        module, colon, name = entry.partition(":")
        if not module.strip() or (colon and not name.strip(": ")):  # Python: "Empty module name"
            self.fail(where, f"expected 'module' or 'module:name', got {entry!r}")
        plugin = self.load(where, entry) if ":" in entry else self.module(where, entry)
        return self.instance(where, plugin)

    def instance(self, where: str, plugin: object) -> object:
        """``plugin``, or an instance of it if it is a class: pluggy would call a class's
        hooks unbound, without ``self``, and they would fail mid-run."""
        if not isinstance(plugin, type):
            return plugin
        try:
            return plugin()
        except TypeError as error:
            self.fail(
                where,
                f"{plugin.__qualname__} cannot be made without arguments ({error}): "
                "pass an instance",
            )

    def module(self, key: str, location: str) -> Any:
        """The module at ``location``: a file path, or a module name."""
        _search_first(self.base)
        if location.endswith(".py") or "/" in location or "\\" in location:
            return self._file_module(key, location)
        module = self._import(key, location, repr(location))
        top = location.partition(".")[0]
        for local in (self.base / f"{top}.py", self.base / top / "__init__.py"):
            if local.is_file():  # looked up here first: another one of that name is stale
                self._check_origin(key, sys.modules[top], local.resolve())
        return module

    def _import(self, key: str, name: str, shown: str) -> Any:
        """Import module ``name``; any error the user's module raises names it and its line."""
        try:
            return importlib.import_module(name)
        except ImportError as error:
            self.fail(key, f"cannot import {shown}: {error}")
        except Exception as error:
            where = "" if isinstance(error, SyntaxError) else _raised_in(error, name)
            self.fail(key, f"importing {shown} raised {type(error).__name__}: {error}{where}")
        except SystemExit as error:  # a script's sys.exit() outside its main guard
            where = _raised_in(error, name)
            self.fail(key, f"importing {shown} called sys.exit({error.code!r}){where}")

    def _file_module(self, key: str, location: str) -> Any:
        """Import a file as a module named by its stem, importable by child processes too."""
        path = self.path(key, location)
        if not path.is_file():
            self.fail(key, f"no such file {path}")
        name = path.stem
        if not name.isidentifier():
            self.fail(key, f"{path.name} is not an importable module name; rename the file")
        loaded = sys.modules.get(name)
        if loaded is None:
            _search_first(path.parent)
            loaded = self._import(key, name, str(path))
        self._check_origin(key, loaded, path)
        return loaded

    def _check_origin(self, key: str, loaded: Any, path: Path) -> None:
        """Refuse ``loaded`` unless it is the module in ``path``: Python imports a name once
        per process, so a second config's ``train.py`` (or a ``json.py``) would be ignored."""
        origin = getattr(loaded, "__file__", None)
        if origin is None or Path(origin).resolve() != path:
            ours = path.parent if path.name == "__init__.py" else path  # a package, or a file
            self.fail(
                key,
                f"a different module named {loaded.__name__!r} is already imported "
                f"({origin or 'built in'}); rename {ours.name}",
            )


def _as_text(value: Mapping[Any, Any]) -> str:
    """For a mapping of one entry, the text YAML may have read as it (``train.py: f`` or
    ``train.py:``), and why; a mapping of several entries was written as one."""
    if len(value) != 1:
        return ""
    ((name, part),) = value.items()
    text = f"{name}:" if part is None else f"{name}: {part}"
    return f" (if {text!r} was meant: YAML reads text ending in ':' or holding ': ' as a mapping)"


def _raised_in(error: BaseException, module: str) -> str:
    """`` (file, line N)``: the last line of ``module``'s own code that ``error`` passed
    through (a ``sys.exit()`` there, or the call into a library that raised), else the line
    that raised it. A ``SyntaxError`` names its file and line itself."""
    frames = list(traceback.walk_tb(error.__traceback__))
    own = [(frame, line) for frame, line in frames if frame.f_globals.get("__name__") == module]
    if not (own or frames):
        return ""
    frame, line = (own or frames)[-1]
    return f" ({frame.f_code.co_filename}, line {line})"


def _search_first(folder: Path) -> None:
    """Let imports find modules in ``folder`` first, as ``python script.py`` does for its own
    (also where it was on the path already, behind the installed packages)."""
    if sys.path[:1] != [str(folder)]:
        with contextlib.suppress(ValueError):
            sys.path.remove(str(folder))
        sys.path.insert(0, str(folder))


def named_in_run(setting: str, value: Any) -> Any:
    """A ``run()`` argument naming objects as a run config does, resolved from the working
    directory: ``evaluate_pipeline="path/to/file.py:name"`` (or ``"module:name"``), and
    ``plugins=["module", "module:name", ...]`` (see ``named_plugins``). Anything else is
    returned unchanged.
    """
    if setting == "evaluate_pipeline" and isinstance(value, str):
        return CodeLocator("run()", Path.cwd()).load(setting, value)
    if setting == "plugins":
        return named_plugins(value)
    return value


def named_plugins(value: object | Iterable[object], caller: str = "run()") -> tuple[object, ...]:
    """The ``plugins=`` argument of ``caller`` as plugin objects: names (``"module"``,
    ``"module:name"``) imported from the working directory, classes instantiated.

    One plugin alone (``plugins=my_module``, ``"module:name"``, an instance) is a list of one:
    ``list()`` of it failed with "'module' object is not iterable", naming no setting.
    """
    locator = CodeLocator(caller, Path.cwd())
    entries = [value] if isinstance(value, str) or not isinstance(value, Iterable) else value
    return tuple(
        locator.plugin(f"plugins[{index}]", entry)
        if isinstance(entry, str)
        else locator.instance(f"plugins[{index}]", entry)
        for index, entry in enumerate(entries)
    )
