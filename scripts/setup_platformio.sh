#!/usr/bin/env bash
# Offline PlatformIO set-up for cimsdk (PlatformIO's registry is not reachable from our machines).
#
#  1. tool-scons: PlatformIO's core build tool, registered from PyPI's `scons` (a pip dependency)
#     as package tool-scons@4.41101.0 with owner "platformio" (PlatformIO only accepts it then).
#  2. toolchain-riscv-cimsdk: a folder of links to Debian's riscv64-unknown-elf-* (with picolibc),
#     the toolchain package of the local platform boards/platform-cimsdk.
#
# Idempotent and fast when already done. Needs: python with platformio and scons installed
# (pip install -e .), apt packages gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf.
set -euo pipefail

PY="${PYTHON:-python3}"
CORE_DIR="${PLATFORMIO_CORE_DIR:-$HOME/.platformio}"
PKG_DIR="$CORE_DIR/packages"
SCONS_VERSION="4.41101.0"
TOOLCHAIN_PKG="toolchain-riscv-cimsdk"
TOOLS=(gcc g++ cpp as ld ld.bfd ar nm objcopy objdump ranlib readelf size strings strip addr2line gcc-ar gcc-nm gcc-ranlib gdb)

die() { echo "setup_platformio: $*" >&2; exit 1; }

command -v riscv64-unknown-elf-gcc >/dev/null || die "riscv64-unknown-elf-gcc missing: apt-get install gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf"
[ -f /usr/lib/picolibc/riscv64-unknown-elf/picolibc.specs ] || die "picolibc missing: apt-get install picolibc-riscv64-unknown-elf"
"$PY" -c "import platformio" 2>/dev/null || die "platformio missing: pip install platformio (or pip install -e .)"
"$PY" -c "import SCons" 2>/dev/null || die "scons missing: pip install scons (or pip install -e .)"

piopm_ok() {  # $1 package folder, $2 owner
    "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
try:
    d = json.load(open(sys.argv[1] + "/.piopm"))
except (OSError, ValueError):
    sys.exit(1)
sys.exit(0 if (d.get("spec") or {}).get("owner") == sys.argv[2] else 1)
PYEOF
}

set_owner() {  # $1 package folder, $2 owner, $3 name
    "$PY" - "$1" "$2" "$3" <<'PYEOF'
import json, sys
path = sys.argv[1] + "/.piopm"
d = json.load(open(path))
d.setdefault("spec", {})
d["spec"]["owner"], d["spec"]["name"] = sys.argv[2], sys.argv[3]
d["spec"]["requirements"] = None
open(path, "w").write(json.dumps(d))
PYEOF
}

pio_install() {  # $1 staged folder
    "$PY" -m platformio pkg install --global --tool "file://$1" >/dev/null
}

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT

# -- 1. tool-scons --------------------------------------------------------------------------------
SCONS_SRC="$("$PY" -c 'import os, SCons; print(os.path.dirname(SCons.__file__))')"
SCONS_PYPI="$("$PY" -c 'import SCons; print(SCons.__version__)')"
if [ -f "$PKG_DIR/tool-scons/scons.py" ] && [ -d "$PKG_DIR/tool-scons/SCons" ] && piopm_ok "$PKG_DIR/tool-scons" platformio \
   && grep -q "$SCONS_PYPI" "$PKG_DIR/tool-scons/.cimsdk-scons-version" 2>/dev/null; then
    echo "tool-scons: ok (SCons $SCONS_PYPI)"
else
    rm -rf "$PKG_DIR/tool-scons"
    mkdir -p "$STAGE/tool-scons"
    cp -r "$SCONS_SRC" "$STAGE/tool-scons/SCons"
    find "$STAGE/tool-scons" -name __pycache__ -prune -exec rm -rf {} +
    cat > "$STAGE/tool-scons/scons.py" <<'PYEOF'
"""PlatformIO runs `python scons.py ...`: SCons from PyPI, vendored beside this file."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from SCons.Script.Main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
PYEOF
    cat > "$STAGE/tool-scons/package.json" <<PYEOF
{"name": "tool-scons", "version": "$SCONS_VERSION", "description": "SCons $SCONS_PYPI from PyPI, for offline PlatformIO", "system": "*"}
PYEOF
    echo "$SCONS_PYPI" > "$STAGE/tool-scons/.cimsdk-scons-version"
    pio_install "$STAGE/tool-scons"
    set_owner "$PKG_DIR/tool-scons" platformio tool-scons
    echo "tool-scons: installed (SCons $SCONS_PYPI as $SCONS_VERSION)"
fi

# -- 2. toolchain-riscv-cimsdk --------------------------------------------------------------------
GCC_VERSION="$(riscv64-unknown-elf-gcc -dumpversion)"
if [ -x "$PKG_DIR/$TOOLCHAIN_PKG/bin/riscv64-unknown-elf-gcc" ] && piopm_ok "$PKG_DIR/$TOOLCHAIN_PKG" cimsdk \
   && grep -q "\"$GCC_VERSION\"" "$PKG_DIR/$TOOLCHAIN_PKG/package.json" 2>/dev/null; then
    echo "$TOOLCHAIN_PKG: ok (GCC $GCC_VERSION)"
else
    rm -rf "${PKG_DIR:?}/$TOOLCHAIN_PKG"
    mkdir -p "$STAGE/$TOOLCHAIN_PKG/bin"
    for t in "${TOOLS[@]}"; do
        src="$(command -v "riscv64-unknown-elf-$t" || true)"
        [ -n "$src" ] && ln -s "$src" "$STAGE/$TOOLCHAIN_PKG/bin/riscv64-unknown-elf-$t"
    done
    cat > "$STAGE/$TOOLCHAIN_PKG/package.json" <<PYEOF
{"name": "$TOOLCHAIN_PKG", "version": "$GCC_VERSION", "description": "links to Debian's riscv64-unknown-elf GCC $GCC_VERSION with picolibc", "system": "*"}
PYEOF
    pio_install "$STAGE/$TOOLCHAIN_PKG"
    set_owner "$PKG_DIR/$TOOLCHAIN_PKG" cimsdk "$TOOLCHAIN_PKG"
    echo "$TOOLCHAIN_PKG: installed (GCC $GCC_VERSION)"
fi
