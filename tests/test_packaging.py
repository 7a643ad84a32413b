"""cimsdk as a package: the wheel carries everything an install needs, and works with no checkout.

The default checks build the sdist and the wheel (`python -m build`: the wheel is built from the
unpacked sdist, as a user's pip would) and read the wheel's file list. The slow test installs the
wheel into a fresh virtual environment outside the repository and runs convert, run, firmware build
and the demo in an empty folder, with PYTHONPATH cleared and a PlatformIO core folder of its own (so
the bundled offline set-up runs as on a new machine).

Expected values do not come from cimsdk: the package list is read from the folders, the sample list
from ../shared/README.md's licences (Apache-2.0 sources), the labels from ../shared/README.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest
from leftovers import alive, run_and_find_leftovers
from paths import ROOT, SHARED

# The samples the wheel bundles; all Apache-2.0 (mlcommons/tiny, tensorflow/tflite-micro), ../shared/README.md.
BUNDLED_SAMPLES = {
    "models/kws_ref_model.tflite", "models/hello_world_int8.tflite", "models/micro_speech_quantized.tflite",
    "models/audio_preprocessor_int8.tflite", "data/yes_1000ms.wav", "data/no_1000ms.wav",
    "data/silence_1000ms.wav", "data/noise_1000ms.wav", "data/person.bmp", "data/no_person.bmp",
}
FOLDERS = {"sdk": "cimsdk", "converter": "cimconv", "contracts": "cimcontracts"}
needs_shared = pytest.mark.skipif(not (SHARED / "models" / "kws_ref_model.tflite").is_file(),
                                  reason="../shared missing (the wheel bundles samples from it)")


def _python_packages() -> set[str]:
    """Every folder with an __init__.py, under its package name."""
    names = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            names.add(".".join([name, *rel.parts]))
    return names


def test_pyproject_lists_every_package() -> None:
    """pyproject.toml names the packages (folder and package names differ): none may be forgotten."""
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(conf["tool"]["setuptools"]["packages"])
    assert listed == _python_packages()
    assert not (ROOT / "setup.py").exists(), "pyproject.toml alone describes the package"
    assert (ROOT / "LICENSE").read_text().lstrip().startswith("Apache License")
    tracked = subprocess.run(["git", "ls-files", "*.egg-info*"], cwd=ROOT, capture_output=True, text=True)
    assert tracked.stdout.strip() == "", "a build's *.egg-info is committed"


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """sdist and wheel built with `python -m build` (PyPI reachable for the isolated build env)."""
    pytest.importorskip("build", reason="python -m build: pip install build (in the test extras)")
    out = tmp_path_factory.mktemp("dist")
    env = {**os.environ, "CIMSDK_SHARED": str(SHARED)}
    res = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True,
                         text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    wheels, sdists = list(out.glob("cimsdk-*.whl")), list(out.glob("cimsdk-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@needs_shared
def test_wheel_carries_data_and_samples(dist: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(dist["wheel"]).namelist())
    data = "cimsdk/_data/"
    # Every firmware source, board file and RTL file of the checkout is in the wheel.
    for folder in ("firmware", "boards", "rtl"):
        files = [p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
        assert files, folder
        missing = [f for f in files if data + f not in names]
        assert not missing, missing[:10]
    for board in ("qemu-virt-rv32", "sipeed-longan-nano", "sifive-hifive1-revb"):
        assert f"{data}boards/{board}/board.toml" in names
    assert f"{data}boards/platform-cimsdk/platform.json" in names
    assert f"{data}scripts/setup_platformio.sh" in names
    # The converter's target files and every Python package.
    for target in (ROOT / "converter" / "targets").rglob("*.toml"):
        assert "cimconv/" + target.relative_to(ROOT / "converter").as_posix() in names
    for pkg in _python_packages():
        assert pkg.replace(".", "/") + "/__init__.py" in names, pkg
    # The samples, byte for byte, and the licence.
    with zipfile.ZipFile(dist["wheel"]) as z:
        for rel in BUNDLED_SAMPLES:
            assert z.read(f"{data}samples/{rel}") == (SHARED / rel).read_bytes(), rel
        meta = z.read("cimsdk-0.1.0.dist-info/METADATA").decode()
    assert f"{data}samples/models/vww_96_int8.tflite" not in names  # small samples only
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: Apache-2.0" in meta and "Provides-Extra: firmware" in meta
    # Heavy dependencies are extras, not requirements of a plain install.
    plain = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:") and "extra ==" not in ln]
    for heavy in ("platformio", "scons", "numba", "matplotlib", "tensorflow", "pyjoulescope"):
        assert not any(heavy in ln.lower() for ln in plain), (heavy, plain)


def _venv_env(venv: Path, pio_core: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["PLATFORMIO_CORE_DIR"] = str(pio_core)
    return env


@pytest.mark.slow
@pytest.mark.qemu
@needs_shared
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")
def test_wheel_in_fresh_venv_runs_everything(dist: dict[str, Path], tmp_path: Path) -> None:
    """pip install cimsdk[firmware,plots] into a new venv (no system site-packages), then, in an empty
    folder: convert, run, firmware build, demo (bit-exact on the device, report, nothing left running)."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    py = venv / "bin" / "python"
    env = _venv_env(venv, tmp_path / "platformio")
    res = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{dist['wheel']}[firmware,plots]"],
                         capture_output=True, text=True, timeout=1200, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    work = tmp_path / "empty"
    work.mkdir()

    def cimsdk(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run([str(venv / "bin" / "cimsdk"), *args], cwd=work, capture_output=True, text=True,
                              timeout=timeout, env=env)

    where = subprocess.run([str(py), "-c", "import cimsdk, cimcontracts.resources as r; "
                            "print(cimsdk.__file__); print(r.data_root()); print(r.sample('data/yes_1000ms.wav'))"],
                           cwd=work, capture_output=True, text=True, env=env, timeout=120)
    assert where.returncode == 0, where.stderr
    module, data_root, yes = where.stdout.split()
    assert module.startswith(str(venv)) and data_root.startswith(str(venv)), where.stdout
    assert not module.startswith(str(ROOT))

    model = Path(data_root) / "samples" / "models" / "kws_ref_model.tflite"
    res = cimsdk("convert", str(model), "-o", "kws")
    assert res.returncode == 0, res.stderr
    assert (work / "kws" / "model.cimg").is_file()
    res = cimsdk("run", "kws/model.cimg", "-i", yes, "-o", "y.npy")
    assert res.returncode == 0, res.stderr
    import numpy as np

    assert int(np.load(work / "y.npy").reshape(-1).argmax()) == 9  # Yes (../shared/README.md)
    hello = Path(data_root) / "firmware" / "examples" / "hello"  # what fits a real board's RAM
    res = cimsdk("firmware", "build", "fw", "--board", "sipeed-longan-nano", "--app", str(hello), timeout=900)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert (work / "fw" / "firmware" / "firmware.elf").is_file()

    demo = ["env", "-i", *[f"{k}={v}" for k, v in env.items()], str(venv / "bin" / "cimsdk"), "demo"]
    res, left = run_and_find_leftovers(demo, work, 900)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    assert not left, f"processes left running by the demo: {left}"
    data = json.loads((work / "cimsdk-demo" / "results.json").read_text())
    assert [r["golden_equal"] for r in data["recordings"]] == [True, True, True]
    labels = {r["file"]: r["label"] for r in data["recordings"]}
    assert labels["yes_1000ms.wav"] == "Yes" and labels["silence_1000ms.wav"] == "Silence"
    assert "data:image/png;base64," in (work / "cimsdk-demo" / "index.html").read_text()
    for pid in data["processes"].values():
        assert pid is None or not alive(pid)
