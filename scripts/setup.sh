#!/usr/bin/env bash
# Set up a fresh Debian machine for cimsdk: Debian packages, the Python package with its extras,
# and the offline PlatformIO platform. Idempotent; fast when everything is already there.
#   scripts/setup.sh          what `cimsdk demo` needs, in a virtual environment .venv/ (created here;
#                             then `. .venv/bin/activate`, or run .venv/bin/cimsdk)
#   scripts/setup.sh test     plus the test extras (TensorFlow, Vela, pytest), into the `python3` on PATH:
#                             the interpreter the README's test command runs (a virtual environment
#                             when one is active; CI's python3 otherwise)
#   PYTHON=/path/to/python scripts/setup.sh [test]   into that interpreter instead
# Installing into a Debian system Python ("externally managed") needs pip's --break-system-packages:
# test mode passes it when pip asks for it (it is for CI and development machines); the default mode
# never does, it uses .venv/.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(python3-venv python3-pip qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf espeak-ng sox dfu-util
              verilator yosys nextpnr-ice40 fpga-icestorm)  # the last four: the RTL coprocessor (docs/fpga.md)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

mode="${1:-}"
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ "$mode" = "test" ]; then
  PY=python3
else
  if [ ! -x .venv/bin/python ]; then
    echo "setup: creating the virtual environment .venv"
    python3 -m venv .venv 2>/tmp/cimsdk-venv.err || {
      cat /tmp/cimsdk-venv.err >&2
      echo "setup: python3 -m venv failed: apt-get install python3-venv, then run this again" >&2; exit 1; }
  fi
  PY="$PWD/.venv/bin/python"
fi
extras="demo,ref"
[ "$mode" = "test" ] && extras="demo,ref,test"
pyid="$("$PY" -c 'import sys; print(sys.prefix)' | sha256sum | cut -c1-8)"
stamp=".setup-stamp-${extras//,/-}-$pyid"
want="$(sha256sum pyproject.toml | cut -c1-16)"
here="$(pwd -P)"
installed_here() {  # cimsdk importable by $PY from this checkout (editable install or PYTHONPATH)
  "$PY" - "$here" <<'PYEOF' 2>/dev/null
import os, sys
import cimsdk
sys.exit(0 if os.path.realpath(cimsdk.__file__).startswith(sys.argv[1] + os.sep) else 1)
PYEOF
}
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! installed_here; then
  echo "setup: $PY -m pip install -e .[$extras]"
  pip_args=(-q install -e ".[$extras]")
  if ! "$PY" -m pip "${pip_args[@]}" 2>/tmp/cimsdk-pip.err; then
    if grep -q externally-managed /tmp/cimsdk-pip.err && [ "$mode" = "test" ]; then
      "$PY" -m pip "${pip_args[@]}" --break-system-packages
    else
      cat /tmp/cimsdk-pip.err >&2; exit 1
    fi
  fi
  echo "$want" > "$stamp"
fi
export PYTHON="$PY"

if [ -x scripts/setup_platformio.sh ] || [ -f scripts/setup_platformio.sh ]; then
  bash scripts/setup_platformio.sh
fi
if [ "$PY" = "$PWD/.venv/bin/python" ]; then
  echo "setup: ready; run . .venv/bin/activate (or use .venv/bin/cimsdk)"
else
  echo "setup: ready"
fi
