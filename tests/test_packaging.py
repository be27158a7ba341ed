"""Packaging: training/, serving/ and evaluation/ install as xinfang.training, xinfang.serving and
xinfang.evaluation (pyproject.toml's package-dir), never as top-level packages of their own."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = {"xinfang": "xinfang", "training": "xinfang.training", "serving": "xinfang.serving",
           "evaluation": "xinfang.evaluation"}


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]


def _folder_packages() -> set[str]:
    """Every folder under the four, as the package it installs as (data folders are namespace packages)."""
    out = set()
    for folder, package in FOLDERS.items():
        for d in [ROOT / folder, *(p for p in (ROOT / folder).rglob("*") if p.is_dir())]:
            rel = d.relative_to(ROOT / folder).parts
            if "__pycache__" not in rel and any(f.is_file() for f in d.iterdir()):
                out.add(".".join([package, *rel]))
    return out


def test_package_list_matches_the_folders() -> None:
    """A custom package-dir turns auto-discovery off: a new subpackage must be listed, or the wheel lacks it."""
    config = _setuptools()
    assert set(config["packages"]) == _folder_packages()
    assert config["package-dir"] == {p: f for f, p in FOLDERS.items() if f != p}
    for package, globs in config["package-data"].items():
        assert package in config["packages"]
        base = ROOT / next(f for f, p in FOLDERS.items() if package == p)
        assert all(any(base.glob(g)) for g in globs), (package, globs)


def test_installed_names_are_the_checkouts_folders(tmp_path: Path) -> None:
    """Outside the checkout (so only the install decides) the apps import as xinfang.* from this checkout's
    folders, with their data, and `training`, `serving`, `evaluation` are not top-level modules at all."""
    code = (
        "import importlib, importlib.resources, importlib.util\n"
        "for name in ('xinfang.training.data', 'xinfang.training.generator', 'xinfang.serving.app',\n"
        "             'xinfang.evaluation.report'):\n"
        "    print(importlib.util.find_spec(name).origin)\n"
        "print([n for n in ('training', 'serving', 'evaluation') if importlib.util.find_spec(n)])\n"
        "print(importlib.resources.files('xinfang.evaluation').joinpath('templates').is_dir())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    *origins, top_level, templates = done.stdout.strip().splitlines()
    assert origins == [str(ROOT / "training" / "data.py"), str(ROOT / "training" / "generator" / "__init__.py"),
                       str(ROOT / "serving" / "app.py"), str(ROOT / "evaluation" / "report.py")]
    assert top_level == "[]"
    assert templates == "True"


def test_wheel_holds_the_apps_inside_xinfang(tmp_path: Path) -> None:
    """The wheel built from the project (the installed layout, not the editable one) has one top-level
    package, xinfang, with training, serving and evaluation and their data inside it."""
    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed in this environment")
    src = tmp_path / "src"
    for folder in FOLDERS:
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                           "-q", "-w", str(tmp_path / "wheel"), str(src)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    names = zipfile.ZipFile(next((tmp_path / "wheel").glob("*.whl"))).namelist()
    assert {n.split("/")[0] for n in names if ".dist-info/" not in n} == {"xinfang"}
    for path in ("xinfang/training/data.py", "xinfang/training/generator/lexicon", "xinfang/serving/app.py",
                 "xinfang/evaluation/templates/", "xinfang/schemas/"):
        assert any(n.startswith(path) for n in names), path
    sources = {str(p.relative_to(ROOT)) for f in FOLDERS for p in (ROOT / f).rglob("*.py")}
    packed = {n.split("/", 1)[1] if n.split("/")[1] in FOLDERS else n for n in names if n.endswith(".py")}
    assert sources == packed
