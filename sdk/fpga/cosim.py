"""The RTL coprocessor as the emulated board's coprocessor process.

`python -m cimsdk.fpga.cosim --fd N --ram-base B --ram-size S --window W` takes the arguments of
`python -m cimsdk.emulator.coprocessor` and behaves the same towards the launcher (prints `ready`,
serves the mailbox in the shared guest RAM, exits when its stdin closes or on SIGTERM), but the
commands run on the Verilated RTL: the process execs the cached co-simulation executable
(cimsdk.fpga.verilate), which clocks the RTL and serves its bus master from the guest RAM.

The instance is `--target` (default: $CIMSDK_RTL_TARGET, else fpga-dcim-up5k); images must be
converted for that target. Build it beforehand (`cimsdk fpga build --sim`) so the first start does
not spend the launcher's start timeout verilating.
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_TARGET = "fpga-dcim-up5k"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="RTL CiM coprocessor co-simulation (started by cimsdk emulate)")
    ap.add_argument("--fd", type=int, help="inherited file descriptor of the guest RAM file")
    ap.add_argument("--path", help="or: path of the guest RAM file")
    ap.add_argument("--ram-base", default="0x80000000")
    ap.add_argument("--ram-size", default="0x4000000")
    ap.add_argument("--window", default="0x83FF0000")
    ap.add_argument("--target", default=os.environ.get("CIMSDK_RTL_TARGET", DEFAULT_TARGET),
                    help="FPGA target whose RTL instance to simulate")
    args = ap.parse_args(argv)

    from cimconv.errors import UserError
    from cimsdk.fpga.instance import load_instance
    from cimsdk.fpga.verilate import build

    try:
        exe = build(load_instance(args.target), log=lambda m: print(f"cosim: {m}", file=sys.stderr, flush=True))
    except UserError as exc:
        print(f"cosim: error: {exc}", file=sys.stderr, flush=True)
        return 2
    cmd = [str(exe), "--ram-base", args.ram_base, "--ram-size", args.ram_size, "--window", args.window]
    cmd += ["--fd", str(args.fd)] if args.fd is not None else ["--path", args.path]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)  # same pid, same inherited RAM fd and stdin: the launcher sees no difference


if __name__ == "__main__":
    sys.exit(main())
