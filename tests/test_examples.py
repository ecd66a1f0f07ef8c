"""Every example script runs to the end (notebooks: tests/test_notebooks.py)."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script):
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=600, cwd=script.parent)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip(), "an example should print its analysis"
