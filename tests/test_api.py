"""cimsdk.api on the shared models: what a notebook or script does, and docs/api.md's examples as written.

Expected outputs come from the TFLM interpreter itself (`tflite_micro.python.tflite_micro.runtime`) and
from ../shared/README.md's recorded labels (yes -> Yes = 9, silence -> Silence = 10), never from cimsdk.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from paths import DATA, MODELS, ROOT

import cimsdk.api as cim
from cimcontracts.errors import UserError

KWS = MODELS / "kws_ref_model.tflite"
HELLO = MODELS / "hello_world_int8.tflite"
needs_shared = pytest.mark.skipif(not KWS.is_file(), reason="../shared missing")


def _tflm(model: Path, xs: np.ndarray) -> np.ndarray:
    """TFLM's outputs, one invoke per input (the interpreter's own batch is 1)."""
    runtime = pytest.importorskip("tflite_micro.python.tflite_micro.runtime")
    interp = runtime.Interpreter.from_file(str(model))
    out = []
    for x in xs:
        interp.set_input(x[None], 0)
        interp.invoke()
        out.append(interp.get_output(0).copy())
    return np.concatenate(out)


@needs_shared
def test_convert_run_compare_on_kws(tmp_path: Path) -> None:
    conv = cim.convert(KWS, "nor-acim")
    assert conv.target == "nor-acim" and conv.image_bytes[:4] == b"CIMG"
    assert conv.report["totals"]["cim_macs"] > 2_000_000
    x = cim.load_inputs(conv, DATA / "yes_1000ms.wav", DATA / "silence_1000ms.wav")
    assert x.dtype == np.int8 and x.shape == (2, 49, 10, 1)
    y = cim.run(conv, x)
    assert list(y.reshape(2, -1).argmax(1)) == [9, 10]
    assert np.array_equal(y.reshape(2, -1), _tflm(KWS, x).reshape(2, -1))
    # The same image from every form a user holds: bytes, parsed image, saved folder, .cimg path.
    out = conv.save(tmp_path / "kws")
    assert sorted(p.name for p in out.iterdir()) == ["firmware.json", "model.cimg", "report.json", "report.txt"]
    for form in (conv.image_bytes, conv.image, out, out / "model.cimg"):
        assert np.array_equal(cim.run(form, x), y)
    assert np.array_equal(cim.run(conv, x[0]), y[:1])  # one input without the batch dimension
    assert np.array_equal(cim.run(conv, [DATA / "yes_1000ms.wav"]), y[:1])
    assert "kws_ref_model" in conv.summary() and "<pre>" in conv._repr_html_()
    comp = cim.compare(KWS, conv, x, litert=False)
    assert comp.mismatches == 0 and len(comp.layers) == len(conv.report["layers"])


@needs_shared
def test_compare_random_inputs_and_hello_world() -> None:
    conv = cim.convert(HELLO)
    comp = cim.compare(HELLO, conv, n=5, seed=3, litert=False)
    assert comp.inputs == 5 or comp.mismatches == 0
    assert comp.mismatches == 0
    xs = np.arange(-120, 120, 17, dtype=np.int8).reshape(-1, 1)
    assert np.array_equal(cim.run(conv, xs).reshape(-1), _tflm(HELLO, xs).reshape(-1))


@needs_shared
def test_user_errors_are_one_line(tmp_path: Path) -> None:
    conv = cim.convert(HELLO)
    with pytest.raises(UserError, match="int8"):
        cim.run(conv, np.zeros((2, 1), np.float32))
    with pytest.raises(UserError, match=r"\[N, 1\]"):
        cim.run(conv, np.zeros((2, 3), np.int8))
    with pytest.raises(UserError, match="at least one"):
        cim.load_inputs(conv)
    with pytest.raises(UserError, match="no such file"):
        cim.run(tmp_path / "missing.cimg", np.zeros((1, 1), np.int8))
    with pytest.raises(UserError, match="folder"):
        cim.run(tmp_path, np.zeros((1, 1), np.int8))
    with pytest.raises(UserError):
        cim.convert(tmp_path / "nope.tflite")
    with pytest.raises(UserError, match="sample"):
        cim.sample("models/not_a_sample.tflite")


def test_library_never_imports_the_cli() -> None:
    """No module outside cimsdk/commands and cimsdk/cli.py imports them (the CLI is a layer on top)."""
    offenders = []
    for folder in ("sdk", "converter", "contracts"):
        for path in (ROOT / folder).rglob("*.py"):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("sdk/commands/") or rel in ("sdk/cli.py", "sdk/__main__.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                if any(n == "cimsdk.cli" or n.startswith("cimsdk.commands") for n in names):
                    offenders.append(rel)
    assert not offenders


def test_python_dash_m_cimsdk(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "cimsdk", "--version"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=120)
    assert res.returncode == 0 and "0.1.0" in res.stdout, res.stderr


def _doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), flags=re.S)


@pytest.mark.qemu
@needs_shared
@pytest.mark.skipif(shutil.which("qemu-system-riscv32") is None or shutil.which("riscv64-unknown-elf-gcc") is None,
                    reason="needs qemu-system-riscv32 and the riscv64-unknown-elf toolchain")
def test_api_page_examples_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every python block of docs/api.md, in order, in one namespace, in an empty folder (they assert
    their own results: labels from ../shared/README.md, device == golden model)."""
    blocks = _doc_blocks()
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for block in blocks:
        exec(compile(block, "docs/api.md", "exec"), ns)  # noqa: S102 - the documented example, as written
    assert np.array_equal(ns["y_dev"], ns["y"])
    assert (tmp_path / "kws" / "model.cimg").is_file()
