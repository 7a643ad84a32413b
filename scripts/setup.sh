#!/usr/bin/env bash
# Set up a fresh Debian machine for cimsdk: Debian packages, the Python package with its extras,
# and the offline PlatformIO platform. Idempotent; fast when everything is already there.
#   scripts/setup.sh          what `cimsdk demo` needs
#   scripts/setup.sh test     plus the test extras (TensorFlow, Vela, pytest)
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(qemu-system-misc gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf espeak-ng sox
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

PY=${PYTHON:-python3}
extras="ref"
[ "${1:-}" = "test" ] && extras="ref,test"
stamp=".setup-stamp-${extras//,/-}"
want="$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ] || ! command -v cimsdk >/dev/null; then
  echo "setup: pip install -e .[$extras]"
  pip_args=(-q install -e ".[$extras]")
  if ! $PY -m pip "${pip_args[@]}" 2>/tmp/cimsdk-pip.err; then
    if grep -q externally-managed /tmp/cimsdk-pip.err; then
      $PY -m pip "${pip_args[@]}" --break-system-packages
    else
      cat /tmp/cimsdk-pip.err >&2; exit 1
    fi
  fi
  echo "$want" > "$stamp"
fi

if [ -x scripts/setup_platformio.sh ] || [ -f scripts/setup_platformio.sh ]; then
  bash scripts/setup_platformio.sh
fi
echo "setup: ready"
