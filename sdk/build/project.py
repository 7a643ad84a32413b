"""Generate a PlatformIO project for one board/app/backend and build it with `pio run`, offline.

The generated project (OUTDIR/project) links the firmware/ components instead of copying them, so
an edit in firmware/ is picked up by the next build. PlatformIO's objects live in OUTDIR/build/ (it
wipes that folder when the project changes); the outputs are copied to OUTDIR/firmware/
(firmware.elf, firmware.bin, firmware.map).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

from cimcontracts.resources import data_root as project_root
from cimconv.atomic import write_bytes, write_text
from cimconv.errors import UserError
from cimsdk import procs
from cimsdk.build.boards import BACKENDS, Board, board_config_header, load_board

ENV_NAME = "firmware"  # PlatformIO env: outputs land in <build_dir>/firmware/
# firmware/ folders that are not components linked into every app.
NOT_COMPONENTS = {"include", "examples", "app", "bootloader"}
DEFAULT_FLAGS = ["-Wall", "-Wextra", "-Werror", "-fno-common", "-ffreestanding"]


class BuildError(UserError):
    """The firmware did not compile or link; the message names the log and the first error."""


def firmware_dir() -> Path:
    return project_root() / "firmware"


def platform_dir() -> Path:
    return project_root() / "boards" / "platform-cimsdk"


def core_dir() -> Path:
    return Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))


def _components(app: Path) -> list[str]:
    """Components the app links: its cimsdk-app.toml's list, else every component folder."""
    manifest = app / "cimsdk-app.toml"
    available = sorted(
        p.name for p in firmware_dir().iterdir() if p.is_dir() and p.name not in NOT_COMPONENTS
    )
    if manifest.is_file():
        wanted = tomllib.loads(manifest.read_text()).get("components", available)
        missing = [c for c in wanted if c not in available]
        if missing:
            raise UserError(f"{manifest}: unknown components {missing}; firmware/ has {available}")
        return list(wanted)
    return available


def check_tools() -> None:
    """Toolchain and PlatformIO present, offline packages registered (runs the set-up if not)."""
    if shutil.which("riscv64-unknown-elf-gcc") is None:
        raise UserError(
            "riscv64-unknown-elf-gcc not found: apt-get install gcc-riscv64-unknown-elf "
            "picolibc-riscv64-unknown-elf (scripts/setup.sh does this)"
        )
    if not Path("/usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs").is_file():
        raise UserError("picolibc for riscv64-unknown-elf not found: apt-get install picolibc-riscv64-unknown-elf")
    from cimsdk.extras import require

    require("platformio", "the firmware build")
    require("SCons", "the firmware build")
    pkgs = core_dir() / "packages"
    ready = (pkgs / "tool-scons" / "scons.py").is_file() and (
        pkgs / "toolchain-riscv-cimsdk" / "bin" / "riscv64-unknown-elf-gcc"
    ).exists()
    if not ready:
        script = project_root() / "scripts" / "setup_platformio.sh"
        proc = subprocess.run(
            ["bash", str(script)], capture_output=True, text=True, env={**os.environ, "PYTHON": sys.executable}
        )
        if proc.returncode != 0:
            raise UserError(f"offline PlatformIO set-up failed ({script}): {proc.stderr.strip() or proc.stdout.strip()}")


def _c_string(s: str) -> str:
    return '\\"' + s + '\\"'


def generate_project(
    outdir: Path,
    board: Board,
    backend: str,
    app: Path,
    embed_image: Path | None = None,
    ops: Sequence[str] | None = None,
    layout: str | None = None,
    opt: str = "-Os",
    defines: dict[str, str] | None = None,
    kernel_opt: str | None = "-O2",
) -> Path:
    """Write OUTDIR/project (platformio.ini, board JSON, board_config.h, source links); return it.

    kernel_opt: optimisation of firmware/kernels and firmware/runtime (the hot loops), as TFLM's reference
    build compiles its kernels -O2 and its core -Os; None compiles everything with `opt`.
    """
    proj = outdir / "project"
    src = proj / "src"
    if src.exists():
        shutil.rmtree(src)
    (proj / "boards").mkdir(parents=True, exist_ok=True)
    (proj / "include").mkdir(parents=True, exist_ok=True)
    src.mkdir(parents=True)

    fw = firmware_dir()
    comps = _components(app)
    for comp in comps:
        (src / comp).symlink_to(fw / comp, target_is_directory=True)
    (src / "app").symlink_to(app.resolve(), target_is_directory=True)

    shutil.copyfile(board.board_json, proj / "boards" / f"{board.name}.json")
    write_text(proj / "include" / "board_config.h", board_config_header(board))

    flags = [*DEFAULT_FLAGS, opt]
    flags.append(f"-DCIM_BACKEND_{backend.upper()}")
    flags += [
        f"-DCIM_BOARD_NAME={_c_string(board.name)}",
        f"-DCIM_BACKEND_NAME={_c_string(backend)}",
        f"-DCIM_FW_VERSION={_c_string(_version())}",
    ]
    if ops:
        flags.append("-DCIM_OPS_SELECTED=1")
        for op in ops:
            if not re.fullmatch(r"[A-Za-z0-9_]+", op):
                raise UserError(f"--ops: '{op}' is not an op name (letters, digits, _); e.g. CONV_2D,FULLY_CONNECTED")
            flags.append(f"-DCIM_USE_{op.upper()}=1")
    # The board's [defines] reach every file (the runtime sizes its arena before any board header), the
    # caller's `defines` win over them.
    board_defines = {k: str(v) for k, v in board.section("defines").items() if k not in (defines or {})}
    for key, value in {**board_defines, **(defines or {})}.items():
        if " " in value:
            raise UserError(f"define {key}={value!r}: a build flag cannot hold spaces; write it without them")
        flags.append(f"-D{key}={value}" if value != "" else f"-D{key}")
    if embed_image is not None:
        image = proj / "embedded_image.bin"
        shutil.copyfile(embed_image, image)
        flags.append("-DCIM_EMBEDDED_IMAGE=1")
        write_text(src / "embedded_image.S", _embed_asm(image))
    flags += [f"-I{fw / 'include'}", f"-I{app.resolve()}"] + [f"-I{fw / c}" for c in comps]
    if "CIM_SLOT_APP" in (defines or {}):
        flags.append(f"-I{fw / 'bootloader'}")  # the slot layout (cim_bl_layout.h) the slot app reads
    flags.append(f"-L{fw / 'board'}")  # INCLUDE cimsdk-sections.ld from the board linker scripts

    extra = []
    if kernel_opt and kernel_opt != opt:
        write_text(proj / "kernel_opt.py", _KERNEL_OPT_SCRIPT.format(opt=kernel_opt))
        extra = ["extra_scripts = pre:kernel_opt.py"]
    upload = f"cimsdk flash --board {board.name} --port $UPLOAD_PORT $SOURCE"
    ini = "\n".join(
        [
            "; GENERATED by `cimsdk firmware build`: regenerated on every build.",
            "[platformio]",
            f"build_dir = {outdir.resolve() / 'build'}",
            # Register the symlinked platform per build, not in ~/.platformio: two checkouts (a user's
            # clone and CI's) would otherwise replace each other's registration mid-build.
            f"platforms_dir = {outdir.resolve() / 'platforms'}",
            "boards_dir = boards",
            "src_dir = src",
            "include_dir = include",
            f"default_envs = {ENV_NAME}",
            "",
            f"[env:{ENV_NAME}]",
            f"platform = symlink://{platform_dir()}",
            f"board = {board.name}",
            f"board_build.ldscript = {board.ldscript(layout)}",
            "build_flags =",
            *[f"    {f}" for f in flags],
            f"upload_command = {upload}",
            *extra,
            "",
        ]
    )
    write_text(proj / "platformio.ini", ini)
    return proj


_KERNEL_OPT_SCRIPT = """# GENERATED by cimsdk firmware build: kernels and runtime at {opt}, the rest as build_flags say.
Import("env")


def _hot(env, node):
    path = node.get_path().replace("\\\\", "/")
    if "/kernels/" in path or "/runtime/" in path:
        return env.Object(node, CCFLAGS=env["CCFLAGS"] + ["{opt}"])
    return node


env.AddBuildMiddleware(_hot)
"""


def _embed_asm(image: Path) -> str:
    """The image as a const array in .rodata, via .incbin (fast for images of hundreds of KiB)."""
    return "\n".join(
        [
            "/* GENERATED by cimsdk firmware build --embed-image. */",
            '    .section .rodata.cim_embedded_image, "a"',
            "    .balign 16",
            "    .globl cim_embedded_image",
            "cim_embedded_image:",
            f'    .incbin "{image.resolve()}"',
            "cim_embedded_image_end:",
            "    .size cim_embedded_image, cim_embedded_image_end - cim_embedded_image",
            "    .balign 4",
            "    .globl cim_embedded_image_size",
            "cim_embedded_image_size:",
            "    .word cim_embedded_image_end - cim_embedded_image",
            "    .size cim_embedded_image_size, 4",
            "",
        ]
    )


def _version() -> str:
    from cimsdk import __version__

    return __version__


def _pio_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PLATFORMIO_SETTING_ENABLE_TELEMETRY", "No")
    env.setdefault("PLATFORMIO_SETTING_CHECK_PLATFORMIO_INTERVAL", "3650")
    env.setdefault("PLATFORMIO_SETTING_CHECK_PRUNE_SYSTEM_THRESHOLD", "0")
    env["PLATFORMIO_NO_ANSI"] = "true"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def run_pio(project: Path, log: Path, quiet: bool = False, label: str = "") -> None:
    """`pio run` with a progress line per compiled file; failures raise BuildError naming the log."""
    from rich.console import Console

    console = Console(stderr=True, quiet=quiet)
    cmd = [sys.executable, "-m", "platformio", "run", "-d", str(project)]
    lines: list[str] = []
    with console.status(f"building {label}") as status:
        proc = procs.spawn(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_pio_env())
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                lines.append(line)
                m = re.match(r"(Compiling|Linking|Building|Archiving)\s+(\S+)", line)
                if m:
                    status.update(f"building {label}: {m.group(1).lower()} {Path(m.group(2)).name}")
        finally:
            rc = procs.stop(proc)  # returns at once after a normal exit; stops scons and gcc otherwise
    write_text(log, "".join(lines))
    if rc != 0:
        errors = [ln.strip() for ln in lines if re.search(r"(error|Error|undefined reference)", ln)]
        first = errors[0] if errors else (lines[-1].strip() if lines else "no output")
        raise BuildError(f"firmware build failed ({label}): {first} (full log: {log})")


def build_firmware(
    outdir: str | os.PathLike,
    board: str = "qemu-virt-rv32",
    backend: str | None = None,
    app: str | os.PathLike | None = None,
    embed_image: str | os.PathLike | None = None,
    ops: Sequence[str] | None = None,
    *,
    layout: str | None = None,
    opt: str = "-Os",
    kernel_opt: str | None = "-O2",
    defines: dict[str, str] | None = None,
    quiet: bool = False,
) -> Path:
    """Build firmware for `board` into OUTDIR; return OUTDIR/firmware/firmware.elf.

    backend: "mailbox" or "soft" (default: the board's). app: folder of the application's sources
    (default firmware/app). embed_image: a weight image linked in as a const array. ops: op names
    the image uses (-DCIM_USE_<NAME>), so kernel dispatch links only those.
    """
    b = load_board(board)
    backend = backend or b.default_backend
    if backend not in BACKENDS:
        raise UserError(f"unknown CiM backend '{backend}'; choose one of: {', '.join(BACKENDS)}")
    if backend not in b.backends:
        raise UserError(f"board {b.name} does not support the '{backend}' backend; it has: {', '.join(b.backends)}")
    app_dir = Path(app) if app is not None else firmware_dir() / "app"
    if layout == "slot" and app is None:  # the console app as a slot application (docs/bootloader.md)
        defines = {"CIM_SLOT_APP": "1", **(defines or {})}
    if not app_dir.is_dir() or not any(app_dir.glob("*.c")):
        raise UserError(f"app folder {app_dir} has no .c sources; pass --app DIR with the application's main.c")
    image = None
    if embed_image is not None:
        image = Path(embed_image)
        if not image.is_file():
            raise UserError(f"--embed-image: {image} does not exist; convert a model first (cimsdk convert)")
    check_tools()

    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    proj = generate_project(out, b, backend, app_dir, image, ops, layout, opt, defines, kernel_opt)
    label = f"{app_dir.name} for {b.name} ({backend})"
    run_pio(proj, out / "build.log", quiet=quiet, label=label)
    built = out / "build" / ENV_NAME
    if not (built / "firmware.elf").is_file():
        raise BuildError(f"pio run succeeded but {built / 'firmware.elf'} is missing (log: {out / 'build.log'})")
    elf = out / ENV_NAME / "firmware.elf"
    for name in ("firmware.elf", "firmware.bin", "firmware.map"):
        if (built / name).is_file():
            write_bytes(out / ENV_NAME / name, (built / name).read_bytes())
    summary = {
        "board": b.name,
        "backend": backend,
        "app": str(app_dir.resolve()),
        "layout": layout or "default",
        "embedded_image": str(image) if image else None,
        "ops": list(ops or []),
        "elf": str(elf),
        "bin": str(elf.with_suffix(".bin")),
        "sizes": elf_sizes(elf),
    }
    write_text(out / "build.json", json.dumps(summary, indent=2) + "\n")
    return elf


def elf_sizes(elf: Path) -> dict[str, int]:
    """text/data/bss as `size -B` reports them (text includes rodata)."""
    proc = subprocess.run(["riscv64-unknown-elf-size", "-B", "-d", str(elf)], capture_output=True, text=True)
    if proc.returncode != 0:
        return {}
    fields = proc.stdout.splitlines()[1].split()
    return {"text": int(fields[0]), "data": int(fields[1]), "bss": int(fields[2])}
