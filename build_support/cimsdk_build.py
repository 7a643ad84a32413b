"""setuptools commands that put cimsdk's data folders into the wheel (named in pyproject.toml's
[tool.setuptools.cmdclass]).

A checkout keeps firmware/, boards/ and rtl/ at the top, beside the Python packages, and the sample
models and recordings in `../shared` (not copied into the tree). Package data must live inside a
package, so the wheel gets them under `cimsdk/_data/`, where `cimcontracts.resources` looks when cimsdk
runs from an install. The sdist carries the folders and a `samples/` copy, so a wheel built from it
(as `python -m build` does) is the same.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.command.sdist import sdist

ROOT = Path(__file__).resolve().parent.parent
#: Folders and single files copied below cimsdk/_data.
DATA_FOLDERS = ("firmware", "boards", "rtl")
DATA_FILES = ("scripts/setup_platformio.sh", "LICENSE")
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pio", "*.o", ".DS_Store")


def _samples_list() -> list[str]:
    """The bundled samples, as cimcontracts.resources names them (read from the file: no import)."""
    ns: dict = {}
    src = (ROOT / "contracts" / "resources.py").read_text()
    start = src.index("SAMPLES = (")
    exec(src[start:src.index(")\n", start) + 2], ns)  # the tuple literal only
    return list(ns["SAMPLES"])


def _samples_source(root: Path) -> Path | None:
    """samples/ in an unpacked sdist, else CIMSDK_SHARED, else ../shared beside the checkout."""
    for path in (root / "samples", Path(os.environ.get("CIMSDK_SHARED", root.parent / "shared"))):
        if all((path / s).is_file() for s in _samples_list()):
            return path
    return None


def _copy_samples(dest: Path) -> None:
    src = _samples_source(ROOT)
    if src is None:
        print("cimsdk build: sample models not found (../shared or CIMSDK_SHARED); the package will have none "
              "and `cimsdk demo` will need --model/--input", file=sys.stderr)
        return
    for rel in _samples_list():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src / rel, dest / rel)
    if (src / "README.md").is_file():
        shutil.copyfile(src / "README.md", dest / "README.md")


class BuildPy(build_py):
    """build_py plus cimsdk/_data/{firmware,boards,rtl,scripts,samples} (not for editable installs)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout itself
        data = Path(self.build_lib) / "cimsdk" / "_data"
        if data.exists():
            shutil.rmtree(data)
        for folder in DATA_FOLDERS:
            shutil.copytree(ROOT / folder, data / folder, ignore=IGNORE, symlinks=False)
        for rel in DATA_FILES:
            (data / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, data / rel)
        _copy_samples(data / "samples")


class SDist(sdist):
    """sdist plus samples/, so a wheel built from the sdist bundles them too."""

    def make_release_tree(self, base_dir: str, files: list[str]) -> None:
        super().make_release_tree(base_dir, files)
        _copy_samples(Path(base_dir) / "samples")
