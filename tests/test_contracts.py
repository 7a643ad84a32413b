"""The contracts (cimcontracts, docs/contracts.md): every derived file is current, the C code reads records
through the generated offsets (a shifted field in the declaration changes what the C loader accepts),
and no record offset or mailbox address is typed by hand outside generated files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cimcontracts import image_format
from cimcontracts.gen import LD_BEGIN, LD_END

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent


def _gen(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cimcontracts.gen", *args], capture_output=True, text=True,
                          timeout=300, env=env, cwd=ROOT)


def test_everything_derived_is_current() -> None:
    proc = _gen("--check")
    assert proc.returncode == 0, proc.stderr


def test_check_names_a_stale_file(tmp_path: Path) -> None:
    """--check fails on a derived file that differs (run on a copy of the checkout's layout)."""
    root = _shadow_checkout(tmp_path, swap=None)
    header = root / "firmware" / "include" / "cimg_format.h"
    header.unlink()
    header.write_text((ROOT / "firmware" / "include" / "cimg_format.h").read_text().replace("64u", "65u"))
    proc = _gen("--check", env=_env(tmp_path))
    assert proc.returncode == 1 and "cimg_format.h is stale" in proc.stderr


OP_DERIVED = ["firmware/include/cimg_ops.h", "firmware/runtime/cim_ops_select.h", "firmware/runtime/cim_dispatch.c",
              "sdk/golden/kernels/registry.py", "README.md"]


@pytest.mark.parametrize("rel", OP_DERIVED)
def test_check_names_a_stale_op_table(tmp_path: Path, rel: str) -> None:
    """Each file derived from the op specification is checked: a hand edit (an op dropped) is named."""
    root = _shadow_checkout(tmp_path, swap=None)
    path = root / rel
    text = path.read_text()
    assert "MEAN" in text
    lines = [line for line in text.splitlines(keepends=True) if "MEAN" not in line]
    path.unlink()
    path.write_text("".join(lines))
    proc = _gen("--check", env=_env(tmp_path))
    assert proc.returncode == 1 and f"{rel} is stale" in proc.stderr, proc.stderr


def test_a_new_op_entry_reaches_every_op_table(tmp_path: Path) -> None:
    """One spec entry (on a copy) and the generator: opcode, parameter indexes, op selection, dispatch of the
    kernel and its load-time check, the golden kernel table and the README row all follow."""
    root = _shadow_checkout(tmp_path, swap=None)
    decl = root / "contracts" / "ops.py"
    text = decl.read_text()
    anchor = "    ]\n}\n\nBY_CODE"
    assert anchor in text
    decl.unlink()
    decl.write_text(text.replace(anchor, '        OpSpec(99, "FROBNICATE", "cpu", ("gain",), "int8, test only", '
                                         'c_check=True),\n' + anchor))
    assert _gen("--check", env=_env(tmp_path)).returncode == 1
    regen = _gen(env=_env(tmp_path))
    assert regen.returncode == 0, regen.stderr
    read = {rel: (root / rel).read_text() for rel in OP_DERIVED}
    assert "#define CIM_OP_FROBNICATE 99" in read["firmware/include/cimg_ops.h"]
    assert "#define CIM_P_FROBNICATE_GAIN 0" in read["firmware/include/cimg_ops.h"]
    assert "#define CIM_USE_FROBNICATE 1" in read["firmware/runtime/cim_ops_select.h"]
    dispatch = read["firmware/runtime/cim_dispatch.c"]
    assert "case CIM_OP_FROBNICATE: return cim_kernel_frobnicate;" in dispatch
    assert "case CIM_OP_FROBNICATE: return cim_check_frobnicate;" in dispatch
    assert "case CIM_OP_FROBNICATE: return CIM_OP_FROBNICATE_NPARAMS;" in dispatch
    assert '"FROBNICATE": frobnicate.run' in read["sdk/golden/kernels/registry.py"]
    assert "| FROBNICATE | MCU CPU | int8, test only |" in read["README.md"]
    assert _gen("--check", env=_env(tmp_path)).returncode == 0


def test_every_op_has_its_implementations() -> None:
    """The files the spec promises exist: lowering, golden kernel, C kernel (and its check) per op."""
    import importlib

    from cimcontracts.ops import CONSTANT_FOLDED, OPS
    from cimconv.fold import FOLDERS

    for s in OPS.values():
        assert importlib.import_module(f"cimconv.lowering.{s.name.lower()}").lower, s.name
        if s.runs_as:
            assert OPS[s.runs_as].program and s.code is None, s.name
        if s.where != "cpu" or not s.program:
            continue
        assert importlib.import_module(f"cimsdk.golden.kernels.{s.name.lower()}").run, s.name
        c = (ROOT / "firmware" / "kernels" / f"{s.name.lower()}.c").read_text()
        assert f"int cim_kernel_{s.name.lower()}(" in c, s.name
        assert (f"int cim_check_{s.name.lower()}(" in c) == s.c_check, s.name
    assert set(CONSTANT_FOLDED) == set(FOLDERS)


# --- a shifted field breaks the C loader until regenerated ----------------------------------------------
def _shadow_checkout(tmp: Path, swap: tuple[str, str] | None) -> Path:
    """A checkout whose contracts/ is a copy (optionally with two header fields swapped, which moves both
    fields' offsets); the folders the generator writes are copies, the packages link to the real ones, so the
    generator writes into the copy, never the real tree."""
    root = tmp / "checkout"
    root.mkdir()
    (root / "converter").symlink_to(ROOT / "converter")
    for name in ("contracts", "firmware", "boards", "docs"):
        shutil.copytree(ROOT / name, root / name, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "README.md", root / "README.md")
    registry = Path("sdk", "golden", "kernels", "registry.py")  # the one generated file under sdk/
    (root / registry).parent.mkdir(parents=True)
    shutil.copyfile(ROOT / registry, root / registry)
    if swap:
        decl = root / "contracts" / "image_format.py"
        lines = decl.read_text().splitlines(keepends=True)
        a, b = (next(i for i, line in enumerate(lines) if f'Field("{name}"' in line) for name in swap)
        lines[a], lines[b] = lines[b], lines[a]
        decl.write_text("".join(lines))
    links = tmp / "pylinks"
    links.mkdir()
    (links / "cimcontracts").symlink_to(root / "contracts")
    (links / "cimconv").symlink_to(ROOT / "converter")
    (links / "cimsdk").symlink_to(ROOT / "sdk")
    return root


def _env(tmp: Path) -> dict:
    return {**os.environ, "PYTHONPATH": str(tmp / "pylinks")}


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_shifted_field_breaks_the_c_loader_until_regenerated(models_dir: Path, tmp_path: Path) -> None:
    from test_runtime_host import rb  # tests/c/runtime_build.py, loaded once
    out = tmp_path / "conv"
    proc = subprocess.run([sys.executable, "-m", "cimsdk", "convert", str(models_dir / "hello_world_int8.tflite"),
                           "--target", "sram-dcim", "-o", str(out)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    image = out / "model.cimg"
    img = image_format.HEADER.struct.unpack_from(image.read_bytes(), 0)
    fields = [f.name for f in image_format.HEADER.fields]
    assert img[fields.index("num_tensors")] != img[fields.index("num_ops")], "the swap must be visible"

    good = rb.build_host(tmp_path, ["FULLY_CONNECTED", "RESHAPE"])
    assert rb.run_host(good, image).stdout.startswith("load 0 "), "the committed headers load a real image"

    # The declaration changes (num_tensors and num_ops trade places) and the headers are regenerated
    # from it: the C loader built against them reads the header where the declaration now says.
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    root = _shadow_checkout(shadow, swap=("num_tensors", "num_ops"))
    assert _gen("--check", env=_env(shadow)).returncode == 1, "the committed headers are stale for the new table"
    regen = _gen(env=_env(shadow))
    assert regen.returncode == 0, regen.stderr
    inc = root / "firmware" / "include"
    assert "#define CIMG_HDR_NUM_OPS_OFF 36u" in (inc / "cimg_format.h").read_text()
    shifted = rb.build_host(tmp_path, ["FULLY_CONNECTED", "RESHAPE"], extra=[f"-iquote{inc}"])
    res = rb.run_host(shifted, image)
    assert res.stdout.startswith("load -"), f"an image written with the old layout still loads: {res.stdout}"


# --- nothing hand-typed outside generated files ---------------------------------------------------------
def _generated_spans_removed(path: Path, text: str) -> str:
    if path.suffix == ".ld":
        return re.sub(re.escape(LD_BEGIN) + ".*?" + re.escape(LD_END), "", text, flags=re.S)
    if path.suffix == ".md":
        return re.sub(r"<!-- BEGIN GENERATED: (\S+).*?<!-- END GENERATED: \1 -->", "", text, flags=re.S)
    return text


GENERATED_HEADERS = {"cimg_format.h", "cimg_ops.h", "cim_protocol.h", "cim_mailbox.h", "cim_bl_layout.h",
                     "board_config.h"}
#: What a hand-typed contract looks like: a mailbox address or the boot-request word below it, a record
#: field read at a numeric offset (`rd32(r + 12)`, `image + 48`), a field-offset macro given a number, or a
#: markdown row of a record table (`| 36 | u16 | ...`).
PATTERNS = [
    re.compile(r"0x83FF0000|0x83FEFFF0|0x84000000", re.I),
    re.compile(r"\brd(?:16|32)\(\s*\w+\s*\+\s*\d+\s*\)"),
    re.compile(r"\b(?:image|img)\s*\+\s*\d+u?\b"),
    re.compile(r"#define\s+[HT]_\w+\s+\d+"),
    re.compile(r"^\|\s*\d+\s*\|\s*(?:u8|u16|u32|i32|f32|char)\b", re.M),
]


def _scanned() -> list[Path]:
    files = [*ROOT.glob("firmware/**/*.[ch]"), *ROOT.glob("firmware/**/*.ld"), *ROOT.glob("boards/**/*.ld"),
             *ROOT.glob("tests/**/*.py"), *ROOT.glob("tests/**/*.[ch]"), *ROOT.glob("docs/*.md")]
    # test_contracts.py holds the patterns; fake_runtime.c reads a test-only stand-in format, not a contract.
    return [f for f in files if f.name not in GENERATED_HEADERS | {"test_contracts.py", "fake_runtime.c"}]


def test_no_hand_typed_offsets_or_mailbox_addresses() -> None:
    found = []
    for path in _scanned():
        text = _generated_spans_removed(path, path.read_text(errors="replace"))
        for pat in PATTERNS:
            found += [f"{path.relative_to(ROOT)}: {m.group(0)!r}" for m in pat.finditer(text)]
    assert not found, "hand-typed contract values (use the generated macros/tables):\n" + "\n".join(found)


def test_the_scan_sees_a_hand_typed_offset() -> None:
    """The scan is not vacuous: the pre-contracts spellings are caught."""
    samples = ["m->rows = rd32(r + 4);", "    MAILBOX (rw): ORIGIN = 0x83FF0000, LENGTH = 64K",
               "tlv_bytes(&t, TAG, con.image + 48, n);", "#define H_NOPS 38", "| 38 | u16 | num_ops |"]
    for s in samples:
        assert any(p.search(s) for p in PATTERNS), s
