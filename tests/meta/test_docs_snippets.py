"""Every Python snippet in README.md and docs/ runs, so the documentation cannot rot.

The ```python blocks of one document form one script, run in a fresh process in an empty
directory: later blocks build on earlier ones, as a reader follows the page. Each block keeps
its line numbers, so a traceback's line is the line of the Markdown file.

A comment on the line right before a fenced block changes what happens to it:

* ``<!-- file: NAME -->`` writes the block to ``NAME`` instead (any language). Blocks run
  after it can import it; a ``test_*.py`` file is run with pytest after the page's script.
* ``<!-- no-run -->`` skips the block (it is still compiled); only for snippets that need
  resources a test cannot have (a cluster, a GPU, the network). Use sparingly.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from python_process import run_python

REPOSITORY = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPOSITORY / "README.md", *sorted((REPOSITORY / "docs").rglob("*.md"))]
PYTHON_LANGUAGES = ("python", "py")
MAX_NO_RUN_BLOCKS = 5

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")
_MARKER = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")
_FILE_MARKER = re.compile(r"^file:\s*(\S+)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block: its language, first code line (1-based), code and marker."""

    document: Path
    language: str
    first_line: int
    code: str
    marker: str | None

    @property
    def is_python(self) -> bool:
        return self.language in PYTHON_LANGUAGES

    @property
    def file_name(self) -> str | None:
        match = _FILE_MARKER.match(self.marker or "")
        return match.group(1) if match else None

    @property
    def where(self) -> str:
        return f"{self.document.relative_to(REPOSITORY)}:{self.first_line}"


def fenced_blocks(document: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, with the marker comment right before each."""
    lines = document.read_text(encoding="utf-8").splitlines()
    blocks, index = [], 0
    while index < len(lines):
        opening = _FENCE.match(lines[index])
        if opening is None:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].rstrip() != "```":
            end += 1
        if end == len(lines):
            raise AssertionError(f"{document}:{index + 1}: a code fence is never closed")
        marker = _MARKER.match(lines[index - 1]) if index > 0 else None
        blocks.append(
            Block(
                document=document,
                language=opening.group(1).lower(),
                first_line=index + 2,
                code="\n".join(lines[index + 1 : end]),
                marker=marker.group(1) if marker else None,
            )
        )
        index = end + 1
    return blocks


def page_script(document: Path, blocks: list[Block]) -> str:
    """The runnable Python blocks as one script whose line numbers match the document's."""
    total = len(document.read_text(encoding="utf-8").splitlines())
    lines = [""] * max(total, 1)
    lines[0] = f"# The Python snippets of {document.name}; line numbers are the document's."
    for block in blocks:
        if block.is_python and block.marker is None:
            for offset, line in enumerate(block.code.splitlines()):
                lines[block.first_line - 1 + offset] = line
    return "\n".join(lines) + "\n"


def _with_snippets(document: Path) -> bool:
    return any(b.is_python or b.file_name for b in fenced_blocks(document))


RUNNABLE = [d for d in DOCUMENTS if d.exists() and _with_snippets(d)]


@pytest.mark.parametrize(
    "document", RUNNABLE, ids=[str(d.relative_to(REPOSITORY)) for d in RUNNABLE]
)
def test_document_snippets_run(document: Path, tmp_path: Path) -> None:
    blocks = fenced_blocks(document)
    test_files = []
    for block in blocks:
        if block.file_name is not None:
            (tmp_path / block.file_name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / block.file_name).write_text(block.code + "\n", encoding="utf-8")
            if Path(block.file_name).name.startswith("test_") and block.is_python:
                test_files.append(block.file_name)
    script = tmp_path / "page_snippets.py"
    script.write_text(page_script(document, blocks), encoding="utf-8")
    run_python([script.name], tmp_path, f"the snippets of {document.name} (lines as in the file)")
    if test_files:
        completed = run_python(
            [
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "--basetemp",
                "pytest-tmp",
                *test_files,
            ],
            tmp_path,
            f"pytest on the test files of {document.name}",
        )
        assert " passed" in completed.stdout


def test_readme_and_docs_exist() -> None:
    assert (REPOSITORY / "README.md").is_file()
    assert len(DOCUMENTS) > 5, "the docs/ site is missing pages"
    assert REPOSITORY / "README.md" in RUNNABLE


def test_every_snippet_compiles_and_markers_are_known() -> None:
    no_run = []
    for document in DOCUMENTS:
        for block in fenced_blocks(document):
            if block.marker is not None:
                known = block.marker == "no-run" or block.file_name is not None
                assert known, f"{block.where}: unknown snippet marker <!-- {block.marker} -->"
            if block.marker == "no-run":
                no_run.append(block.where)
            if block.is_python:
                compile(block.code, block.where, "exec")
    assert len(no_run) <= MAX_NO_RUN_BLOCKS, f"too many <!-- no-run --> blocks: {no_run}"


def test_the_page_script_keeps_document_line_numbers(tmp_path: Path) -> None:
    document = tmp_path / "page.md"
    document.write_text(
        "# Title\n\n```python\nx = 1\n```\n\ntext\n\n<!-- no-run -->\n```python\n"
        "import cluster_only\n```\n\n```python\nraise ValueError(x)\n```\n",
        encoding="utf-8",
    )
    blocks = fenced_blocks(document)
    assert [b.first_line for b in blocks] == [4, 11, 15]
    assert [b.marker for b in blocks] == [None, "no-run", None]
    script = page_script(document, blocks).splitlines()
    assert script[3] == "x = 1"
    assert script[10] == ""  # the no-run block is left out
    assert script[14] == "raise ValueError(x)"
    (tmp_path / "page.py").write_text("\n".join(script), encoding="utf-8")
    completed = subprocess.run(
        [sys.executable, "page.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert completed.returncode == 1
    assert 'page.py", line 15' in completed.stderr
