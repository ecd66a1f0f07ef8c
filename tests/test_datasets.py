"""binfer.datasets: every bundled table loads with its documented columns and dtypes, from the
source tree and from a wheel built from an sdist, and matches the R cross-check on record."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import textwrap
from importlib import metadata, resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import binfer
from binfer import datasets

ROOT = Path(__file__).resolve().parents[1]
CHECK_FILE = ROOT / "tests" / "reference" / "datasets_check.txt"

COUNT, LABEL, COVARIATE = "count", "label", "covariate"
ONE_ARM = {"group": LABEL, "events": COUNT, "trials": COUNT}
TWO_ARM = {
    "study": LABEL,
    "events_treat": COUNT,
    "trials_treat": COUNT,
    "events_ctrl": COUNT,
    "trials_ctrl": COUNT,
}
# The contract (names, columns in order, rows), written out here rather than read from the module.
EXPECTED = {
    "aspirin": ({**TWO_ARM, "year": COVARIATE}, 7),
    "bcg": ({**TWO_ARM, "year": COVARIATE, "latitude": COVARIATE, "allocation": LABEL}, 13),
    "beta_blockers": (TWO_ARM, 22),
    "dose_response": ({**ONE_ARM, "dose": COVARIATE}, 8),
    "efron_morris": (
        {**ONE_ARM, "season_average": COVARIATE, "remaining_at_bats": COUNT},
        18,
    ),
    "multicentre": (TWO_ARM, 8),
    "orange_juice": (ONE_ARM, 30),
    "rat_tumors": (ONE_ARM, 71),
    "surgical": (ONE_ARM, 12),
}
NAMES = sorted(EXPECTED)


def _pairs(frame: pd.DataFrame) -> list[tuple[str, str]]:
    if "events" in frame.columns:
        return [("events", "trials")]
    return [("events_treat", "trials_treat"), ("events_ctrl", "trials_ctrl")]


# ---- list() --------------------------------------------------------------------------------------


def test_list_names_and_descriptions():
    table = datasets.list()
    assert list(table.columns) == ["name", "description"]
    assert table["name"].tolist() == NAMES
    assert table["name"].is_unique
    assert all(isinstance(d, str) and len(d) > 20 for d in table["description"])


# ---- load() ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_load_columns_dtypes_and_counts(name):
    frame = datasets.load(name)
    columns, rows = EXPECTED[name]
    assert list(frame.columns) == list(columns)
    assert len(frame) == rows
    assert isinstance(frame.index, pd.RangeIndex)
    assert not frame.isna().any().any()
    for column, kind in columns.items():
        values = frame[column]
        if kind == COUNT:
            assert values.dtype == np.int64, column
            assert (values >= 0).all(), column
        elif kind == COVARIATE:
            assert values.dtype == np.float64, column
            assert np.isfinite(values).all(), column
        else:
            assert pd.api.types.is_string_dtype(values.dtype), column
            assert all(isinstance(v, str) and v for v in values), column
    labels = frame["group" if "group" in columns else "study"]
    assert labels.is_unique
    for events, trials in _pairs(frame):
        assert (frame[trials] >= 1).all()
        assert (frame[events] <= frame[trials]).all()


def test_load_gives_a_fresh_copy():
    frame = datasets.load("surgical")
    frame.loc[0, "events"] = 99
    assert datasets.load("surgical").loc[0, "events"] == 0


@pytest.mark.parametrize("bad", ["nope", "Rat_Tumors", "rat_tumors.csv", "", 3, None])
def test_unknown_name_lists_the_available_ones(bad):
    with pytest.raises(ValueError, match="unknown dataset") as info:
        datasets.load(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert all(name in message for name in NAMES)


def test_known_facts():
    """Spot values quoted in datasets/README.md."""
    rats = datasets.load("rat_tumors")
    assert rats.iloc[-1].tolist() == ["current", 4, 14]
    assert (rats["events"].sum(), rats["trials"].sum()) == (267, 1739)
    em = datasets.load("efron_morris")
    assert em.iloc[0].tolist() == ["Roberto Clemente", 18, 45, 0.346, 367]
    assert (em["trials"] == 45).all()
    bcg = datasets.load("bcg")
    assert set(bcg["allocation"]) == {"random", "alternate", "systematic"}
    assert datasets.load("dose_response")["dose"].is_monotonic_increasing


@pytest.mark.parametrize("name", NAMES)
def test_binfer_runs_with_defaults(name):
    frame = datasets.load(name)
    if "events" in frame.columns:
        result = binfer.pooled_proportion(frame)
        assert result.estimate == pytest.approx(frame["events"].sum() / frame["trials"].sum())
    else:
        result = binfer.meta_two_arm(frame)
        assert np.isfinite(result.estimate)


def test_binfer_exposes_datasets_after_plain_import():
    # `binfer.datasets.load(...)` after a bare `import binfer` needs binfer/__init__.py to import
    # the subpackage; run in a fresh interpreter so no earlier import hides a missing one.
    code = (
        "import binfer; "
        "print(binfer.pooled_proportion(binfer.datasets.load('rat_tumors')).n_groups)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert done.returncode == 0, (
        "binfer/__init__.py must import the datasets subpackage (`from . import datasets`):\n"
        + done.stderr[-2000:]
    )
    assert done.stdout.strip() == "71"


# ---- one copy of each CSV; the R cross-check on record ------------------------------------------


def _package_csvs() -> dict[str, Path]:
    data = resources.files("binfer.datasets") / "data"
    return {Path(str(p)).stem: Path(str(p)) for p in data.iterdir() if p.name.endswith(".csv")}


def test_every_csv_is_a_dataset_and_top_level_links_to_it():
    csvs = _package_csvs()
    assert sorted(csvs) == NAMES
    top = ROOT / "datasets"
    assert sorted(p.stem for p in top.glob("*.csv")) == NAMES
    for name, path in csvs.items():
        link = top / f"{name}.csv"
        # One copy in the repository: datasets/NAME.csv is a symlink to the package data.
        assert link.is_symlink(), f"{link} should be a symlink to {path}"
        assert os.path.samefile(link, path)


def test_r_cross_check_is_current_and_passed():
    """tests/reference/check_datasets.R checked each CSV against an independent source; its record
    must name every dataset, with the md5 of the CSV now shipped, and report no failure."""
    text = CHECK_FILE.read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^dataset (\w+)\s+md5 ([0-9a-f]{32})$", text, flags=re.M))
    assert sorted(recorded) == NAMES
    for name, path in _package_csvs().items():
        md5 = hashlib.md5(path.read_bytes()).hexdigest()
        assert recorded[name] == md5, f"{name}.csv changed since check_datasets.R last ran"
    assert "FAIL" not in text
    assert text.rstrip().endswith("all checks passed")


# ---- sdist -> wheel -> fresh venv ------------------------------------------------------------


def _run(cmd, *, cwd, env=None, timeout=300):
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise AssertionError(f"{cmd!r} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done.stdout


def _backend_env(tmp: Path) -> dict:
    """Environment whose Python imports a setuptools new enough for pyproject.toml (>= 77).

    The venv made by `make test` has Python's bundled setuptools (65), which rejects the SPDX
    `license = "MIT"`; pip's isolated builds fetch a newer one, and so does this (from the
    configured index, offline where a local mirror is configured)."""
    env = dict(os.environ)
    if int(metadata.version("setuptools").split(".")[0]) >= 77:
        return env
    target = tmp / "backend"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target),
         "setuptools>=77"],
        capture_output=True, text=True, timeout=300,
    )
    if done.returncode != 0 and "No matching distribution" in done.stderr:
        pytest.skip("no setuptools>=77 reachable to build the wheel with")
    assert done.returncode == 0, done.stderr[-3000:]
    env["PYTHONPATH"] = str(target)
    return env


def _hook(hook: str, out: Path, *, cwd: Path, env: dict) -> Path:
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    return out / _run([sys.executable, "-c", code], cwd=cwd, env=env).strip().splitlines()[-1]


def test_wheel_built_from_sdist_carries_every_dataset(tmp_path):
    """Build the sdist from a copy of the sources, the wheel from the unpacked sdist (as
    `python -m build` does), install it in a fresh venv and load every dataset there."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE", "MANIFEST.in"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, src / name)
    shutil.copytree(
        ROOT / "binfer", src / "binfer", ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
    )
    env = _backend_env(tmp_path)
    dist = tmp_path / "dist"
    dist.mkdir()

    sdist = _hook("build_sdist", dist, cwd=src, env=env)
    with tarfile.open(sdist) as tar:
        members = tar.getnames()
        # filter="data" (Python >= 3.11.4) refuses links and paths leaving the target.
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(tmp_path / "unpacked", **safe)
    for name in NAMES:
        assert any(m.endswith(f"binfer/datasets/data/{name}.csv") for m in members), name
    (unpacked,) = (tmp_path / "unpacked").iterdir()
    wheel = _hook("build_wheel", dist, cwd=unpacked, env=env)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
         "--no-index", str(wheel)],
        cwd=tmp_path,
    )
    # numpy and pandas from this interpreter's site-packages, appended after the venv's own (so
    # the installed binfer wins; paths listed in a .pth do not run the editable-install hook).
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=tmp_path,
    ).strip()
    here = [p for p in sys.path if p.endswith("site-packages") and Path(p).is_dir()]
    Path(purelib, "_outer_site.pth").write_text("\n".join(here) + "\n")

    script = textwrap.dedent(
        """
        import json
        import binfer.datasets as d
        out = {"file": d.__file__, "names": d.list()["name"].tolist(), "frames": {}}
        for name in out["names"]:
            f = d.load(name)
            out["frames"][name] = [f.to_csv(index=False), [str(t) for t in f.dtypes]]
        print(json.dumps(out))
        """
    )
    # -I: no PYTHONPATH, no current directory on sys.path, so the source tree cannot leak in.
    got = json.loads(_run([str(python), "-I", "-c", script], cwd=tmp_path))
    assert Path(got["file"]).is_relative_to(venv)
    assert got["names"] == NAMES
    for name in NAMES:
        frame = datasets.load(name)
        assert got["frames"][name] == [frame.to_csv(index=False), [str(t) for t in frame.dtypes]]
