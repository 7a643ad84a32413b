"""`python -m cimsdk.farm.validate --env ENV.yaml --place A --place B IMAGE`: `cimsdk validate` on every
board of a labgrid farm, one place after another, through labgrid (RemotePlace + CimsdkDriver).

The places must exist on the coordinator ($LG_COORDINATOR) and be acquired by this user
(`labgrid-client -p PLACE acquire`); `--flash` first brings each board to the strategy's "flashed" state
(the env file's CimsdkStrategy `files`). Prints one line per board and exits 1 if any board mismatches.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def validate_place(env_file: Path, place: str, image: Path, inputs: int, flash: bool) -> dict:
    from labgrid import Environment

    os.environ["LG_PLACE"] = place  # the env file's RemotePlace name is !template $LG_PLACE
    target = Environment(str(env_file)).get_target("main")
    try:
        strategy = target.get_driver("CimsdkStrategy")
        strategy.transition("flashed" if flash else "connected")
        return dict(target.get_driver("CimsdkDriver").validate(image, inputs=inputs), place=place)
    finally:
        target.cleanup()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--env", required=True, type=Path, help="labgrid environment file (boards/labgrid/BOARD.yaml)")
    ap.add_argument("--place", action="append", required=True, help="labgrid place; repeat for each board")
    ap.add_argument("--inputs", type=int, default=10)
    ap.add_argument("--flash", action="store_true", help="flash the strategy's files first")
    ap.add_argument("--json", type=Path, help="write every board's validate report here")
    ap.add_argument("image", type=Path)
    a = ap.parse_args(argv)
    results = []
    for place in a.place:
        r = validate_place(a.env, place, a.image, a.inputs, a.flash)
        results.append(r)
        print(f"{place} ({r['port']}): {'pass' if r['passed'] else 'MISMATCH'} "
              f"({r.get('inputs', '?')} inputs)", flush=True)
    if a.json:
        a.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0 if all(r["passed"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
