"""``import binfer`` is light: the public names load on first use (issue 12). Each check runs in a
fresh interpreter, so no other test's imports leak in; sys.modules is checked, not a timing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ["pandas", "scipy.stats", "numba", "statsmodels", "matplotlib"]


def _run(code: str):
    """What ``code`` (run by a fresh interpreter) prints, as JSON."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(out.stdout)


def _heavy_after(statement: str) -> list[str]:
    return _run(f"import json, sys\n{statement}\n"
                f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")


def test_import_binfer_imports_no_heavy_dependency():
    assert _heavy_after("import binfer") == []


@pytest.mark.parametrize("package", ["core", "homogeneity", "pooling", "profiling"])
def test_subpackages_import_lightly(package):
    assert _heavy_after(f"import binfer.{package}") == []


@pytest.mark.parametrize(
    ("statement", "absent"),
    [
        ("import binfer.core._checks", HEAVY),  # every module's argument checks
        ("import binfer; binfer.pooled_proportion", ["numba", "statsmodels", "matplotlib"]),
        ("import binfer; binfer.homogeneity_test", ["numba", "statsmodels", "matplotlib"]),
        ("import binfer; binfer.cmh_test", ["numba", "statsmodels", "matplotlib"]),
    ],
)
def test_a_name_loads_only_what_it_needs(statement, absent):
    assert set(_heavy_after(statement)).isdisjoint(absent)


def test_every_public_name_resolves():
    code = """
import json
import binfer
from binfer import core, homogeneity, pooling, profiling

report = {"dir": sorted(set(binfer.__all__) - set(dir(binfer))), "wrong": []}
for package in (binfer, core, homogeneity, pooling, profiling):
    for name in package.__all__:
        value = getattr(package, name)
        if name != "__version__" and getattr(value, "__name__", None) != name:
            report["wrong"].append(f"{package.__name__}.{name}")
namespace = {}
exec("from binfer import *", namespace)
report["star"] = sorted(set(binfer.__all__) - set(namespace))
print(json.dumps(report))
"""
    assert _run(code) == {"dir": [], "wrong": [], "star": []}


def test_unknown_names_still_raise():
    import binfer

    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        binfer.no_such_name  # noqa: B018
    with pytest.raises(ImportError):
        from binfer import no_such_name  # noqa: F401
