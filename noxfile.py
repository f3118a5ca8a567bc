"""Developer sessions: ``nox -s tests``, ``lint``, ``typecheck``, ``docs``, ``bench``.

Each session gets its own virtualenv (the ``venv`` backend, nothing beyond the standard
library) with the project installed in editable mode, so a session checks the package as a
user installs it. ``.ci/run`` does the same work in one environment; these are for local use.
Extra arguments after ``--`` go to the tool, e.g. ``nox -s tests -- -k budget``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.sessions = ["tests", "lint", "typecheck", "docs"]

ROOT = Path(__file__).parent
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
#: The pinned CPU build, installed before any extra that needs torch (as .ci/run does), so
#: that no other (multi-GB CUDA) build is pulled in.
TORCH = "torch==2.13.0"


def pinned(tool: str) -> str:
    """The requirement pyproject.toml gives ``tool`` (e.g. ``"ruff>=0.17.6,<0.18"``), so that a
    session installs the version CI uses; read as text, as Python 3.10 has no TOML parser."""
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    found = re.search(rf'^\s*"({re.escape(tool)}\s*[<>=!~][^"]*)"', pyproject, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"pyproject.toml pins no {tool!r}")
    return found.group(1)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite, with every extra CI tests (the ``ci`` extra; torch first, as in CI)."""
    session.install(TORCH)
    session.install("-e", ".[ci]")
    session.run(
        "python", "-m", "pytest", "-q", "-n", "auto", "--dist", "loadfile", *session.posargs
    )


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """``ruff check`` over the whole repository, with pyproject.toml's ruff and configuration."""
    session.install(pinned("ruff"))
    session.run("ruff", "check", *(session.posargs or ["."]))


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """``mypy`` over the packages listed in pyproject.toml's ``[tool.mypy] files``."""
    session.install("-e", ".[dev]")
    session.run("mypy", *session.posargs)


@nox.session(python=PYTHON)
def docs(session: nox.Session) -> None:
    """Build the documentation site with ``--strict``: any warning fails the build."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *(session.posargs or ["--site-dir", "site"]))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Run every ``benchmarks/*.py``; each prints its own table."""
    session.install(TORCH)
    session.install("-e", ".[bench]")
    scripts = sorted((ROOT / "benchmarks").glob("*.py"))
    if not scripts:
        session.error("no benchmarks/*.py found")
    for script in scripts:
        session.log(f"benchmark {script.name}")
        session.run("python", str(script), *session.posargs)
