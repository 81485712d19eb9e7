"""Style is checked like behaviour: ruff (lint + format, settings in pyproject.toml) on the Python
code and clang-format (settings in .clang-format) on csrc/ and tests/native/.

Both tools come with the ``test`` extra; a missing tool skips its test (``ruff format .`` /
``clang-format -i`` fix what these report).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[1]
CPP_SUFFIXES = {".h", ".cpp", ".cu", ".cuh"}


def _tool(name: str) -> Optional[str]:
    """The tool next to this interpreter (the venv the test extra installed it in), else on PATH."""
    here = Path(sys.executable).parent / name
    return str(here) if here.is_file() else shutil.which(name)


def _cpp_files() -> List[Path]:
    return sorted(p for d in ("csrc", "tests/native") for p in (ROOT / d).rglob("*") if p.suffix in CPP_SUFFIXES)


def _run(args: List[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_ruff_lint_and_format():
    ruff = _tool("ruff")
    if ruff is None:
        pytest.skip("ruff not installed (pip install '.[test]')")
    lint = _run([ruff, "check", "--no-cache", "."])
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-2000:]
    fmt = _run([ruff, "format", "--check", "--no-cache", "."])
    assert fmt.returncode == 0, "run `ruff format .`:\n" + fmt.stdout[-4000:] + fmt.stderr[-2000:]


def test_clang_format():
    exe = _tool("clang-format")
    if exe is None:
        pytest.skip("clang-format not installed (pip install '.[test]')")
    files = _cpp_files()
    assert files, "no C++ sources found"
    res = _run([exe, "--style=file", "--dry-run", "--Werror", *map(str, files)])
    assert res.returncode == 0, "run `clang-format -i` on:\n" + res.stderr[-4000:]
