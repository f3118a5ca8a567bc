"""The project's set-up promises: the README's two commands, .ci/run, the extras, noxfile.py.

.ci/run defines its helpers as bash functions and runs only when executed, so these tests
source it in a real bash and call the helpers on real files.
"""

from __future__ import annotations

import ast
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the backport from the test extra
    import tomli as tomllib

REPOSITORY = Path(__file__).resolve().parents[2]
CI_SCRIPT = REPOSITORY / ".ci" / "run"
SETUP_COMMAND = re.compile(r"^python3 -m venv .*$", re.MULTILINE)


def ci_helper(call: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Source .ci/run in ``cwd`` and run ``call`` (a helper function with its arguments)."""
    return subprocess.run(
        ["bash", "-c", f'source "{CI_SCRIPT}" && VPY="{sys.executable}" && {call}'],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def setup_commands(readme: str) -> list[str]:
    return SETUP_COMMAND.findall(readme)


def test_readme_has_exactly_two_one_line_setup_commands() -> None:
    commands = setup_commands((REPOSITORY / "README.md").read_text(encoding="utf-8"))
    assert len(commands) == 2, commands
    example_command, test_command = commands
    example = re.search(r"\.venv/bin/python (examples/\S+\.py)$", example_command)
    assert example, f"the first command must run an example: {example_command}"
    assert (REPOSITORY / example.group(1)).is_file()
    assert "pip install -e ." in example_command
    assert 'pip install -e ".[ci]"' in test_command
    assert test_command.endswith("-m pytest -q -n auto --dist loadfile")  # on every core


def test_torch_is_installed_first_in_the_readme_test_command_and_nox() -> None:
    """The ``ci`` extra needs torch: .ci/run's pin goes in first, so no other build is pulled."""
    pin = ci_helper('echo "$TORCH_PIN"', REPOSITORY).stdout.strip()
    assert pin.startswith("torch==")
    test_command = setup_commands((REPOSITORY / "README.md").read_text(encoding="utf-8"))[1]
    torch_first = test_command.find(f"pip install {pin} && ")
    assert 0 <= torch_first < test_command.index('pip install -e ".[ci]"'), test_command
    assert f'TORCH = "{pin}"' in (REPOSITORY / "noxfile.py").read_text(encoding="utf-8")


def test_ci_script_is_valid_bash() -> None:
    completed = subprocess.run(
        ["bash", "-n", str(CI_SCRIPT)], capture_output=True, text=True, check=False
    )
    assert completed.returncode == 0, completed.stderr


def test_ci_runs_exactly_the_readme_test_command() -> None:
    completed = ci_helper("readme_test_command", REPOSITORY)
    assert completed.returncode == 0, completed.stderr
    readme = (REPOSITORY / "README.md").read_text(encoding="utf-8")
    assert completed.stdout.strip() == setup_commands(readme)[1]


@pytest.mark.parametrize(
    "readme",
    [
        "python3 -m venv .venv && .venv/bin/python examples/a.py\n",
        "python3 -m venv a && pytest\npython3 -m venv b\npython3 -m venv c && pytest\n",
        "python3 -m venv a && x\npython3 -m venv b && y\n",
    ],
    ids=["one-command", "three-commands", "no-pytest"],
)
def test_ci_refuses_a_readme_without_two_commands_and_a_test_one(
    readme: str, tmp_path: Path
) -> None:
    (tmp_path / "README.md").write_text(readme, encoding="utf-8")
    completed = ci_helper("readme_test_command", tmp_path)
    assert completed.returncode != 0
    assert "README.md" in completed.stderr


def write_project(directory: Path, extras: str) -> None:
    (directory / "pyproject.toml").write_text(
        f'[project]\nname = "neps-core"\ndependencies = ["numpy"]\n\n'
        f"[project.optional-dependencies]\n{extras}",
        encoding="utf-8",
    )


@pytest.mark.parametrize(
    ("extras", "needed"),
    [
        ('test = ["pytest"]\nci = ["neps-core[test]"]\n', False),
        ('test = ["pytest"]\nbig = ["torch==2.13.0"]\nci = ["neps-core[test]"]\n', False),
        ('test = ["pytest"]\nddp = ["torch==2.13.0"]\nci = ["neps-core[test,ddp]"]\n', True),
        ('bo = ["botorch>=0.10"]\nci = ["neps_core[bo]"]\n', True),
        ('gp = ["gpytorch"]\nall = ["neps-core[gp]"]\nci = ["Neps.Core[all]"]\n', True),
        ('ci = ["neps-core[ci]"]\n', False),
    ],
    ids=["test-only", "unused-extra", "direct", "botorch", "nested", "cycle"],
)
def test_torch_is_installed_first_only_when_a_ci_extra_needs_it(
    extras: str, needed: bool, tmp_path: Path
) -> None:
    write_project(tmp_path, extras)
    completed = ci_helper("needs_torch", tmp_path)
    assert completed.returncode == (0 if needed else 1), completed.stdout + completed.stderr


def test_pytest_summary_is_the_last_summary_line(tmp_path: Path) -> None:
    log = tmp_path / "pytest.log"
    log.write_text(
        "....F\n3 passed in 0.1s\nFAILED tests/x.py::test - boom\n"
        "===== slowest durations =====\n0.50s call tests/x.py::test\n"
        "1 failed, 4 passed, 2 warnings in 3.21s\n--- examples ---\n",
        encoding="utf-8",
    )
    completed = ci_helper(f'pytest_summary "{log}"', tmp_path)
    assert completed.stdout.strip() == "1 failed, 4 passed, 2 warnings in 3.21s"
    log.write_text("no tests ran in 0.01s\n", encoding="utf-8")
    assert ci_helper(f'pytest_summary "{log}"', tmp_path).stdout.strip() == (
        "no tests ran in 0.01s"
    )


def test_extras_for_ci_and_docs() -> None:
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    extras = project["project"]["optional-dependencies"]
    ci = " ".join(extras["ci"])
    assert re.search(r"neps-core\[[^\]]*\btest\b", ci), "the ci extra must include the tests"
    docs = " ".join(extras["docs"])
    assert "mkdocs" in docs and "mkdocstrings[python]" in docs
    assert (REPOSITORY / "mkdocs.yml").is_file()


def test_noxfile_has_the_documented_sessions() -> None:
    tree = ast.parse((REPOSITORY / "noxfile.py").read_text(encoding="utf-8"))
    sessions = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef)
        and any("session" in ast.unparse(decorator) for decorator in node.decorator_list)
    }
    assert sessions == {"tests", "lint", "typecheck", "docs", "bench"}
    assert 'default_venv_backend = "venv"' in ast.unparse(tree).replace("'", '"')


def test_nox_lints_with_the_ruff_ci_pins() -> None:
    """The lint session installs pyproject.toml's ruff pin, not a looser one of its own."""
    project = tomllib.loads((REPOSITORY / "pyproject.toml").read_text(encoding="utf-8"))
    dev = project["project"]["optional-dependencies"]["dev"]
    ruff = next(requirement for requirement in dev if requirement.startswith("ruff"))
    noxfile = runpy.run_path(str(REPOSITORY / "noxfile.py"))
    assert noxfile["pinned"]("ruff") == ruff
    lint = ast.unparse(
        next(
            node
            for node in ast.parse((REPOSITORY / "noxfile.py").read_text(encoding="utf-8")).body
            if isinstance(node, ast.FunctionDef) and node.name == "lint"
        )
    )
    assert "session.install(pinned('ruff'))" in lint
