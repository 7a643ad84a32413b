#!/usr/bin/env python3
"""Regenerate the command outputs shown in the docs, so a sample never shows what cimsdk no longer prints.

A doc marks a sample with the commands that make it:

    <!-- BEGIN SAMPLE: cimsdk convert kws_ref_model.tflite -o kws; cat kws/report.txt -->
    ```text
    ...what those commands print...
    ```
    <!-- END SAMPLE -->

This script runs each sample's commands (separated by `;`) in a fresh folder holding the bundled sample
model and recordings under their own names (`kws_ref_model.tflite`, `yes_1000ms.wav`, ...), with a fixed
terminal width, and writes what they print between the markers. `--check` rewrites nothing and exits 1
naming every stale sample (the test run does this). Only `cimsdk ...` (its output dropped with
`> /dev/null`) and `cat FILE` commands are run.

    python3 scripts/doc_samples.py            # rewrite the samples in README.md and docs/*.md
    python3 scripts/doc_samples.py --check    # exit 1 if any sample is stale
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WIDTH = "100"
SAMPLE = re.compile(r"(<!-- BEGIN SAMPLE: (?P<cmds>.+?) -->\n```text\n)(?P<body>.*?)(```\n<!-- END SAMPLE -->)", re.S)
# The files a sample may name, from the bundled samples (cimcontracts.resources finds them in a checkout
# or an installed package).
SAMPLE_FILES = ("models/kws_ref_model.tflite", "models/vww_96_int8.tflite", "data/yes_1000ms.wav",
                "data/no_1000ms.wav", "data/person.bmp")


def _workdir() -> Path:
    from cimcontracts.resources import sample

    work = Path(tempfile.mkdtemp(prefix="cimsdk-doc-samples-"))
    for rel in SAMPLE_FILES:
        shutil.copy(sample(rel), work / Path(rel).name)
    return work


def _run(cmds: str, work: Path) -> str:
    env = {**os.environ, "COLUMNS": WIDTH, "NO_COLOR": "1", "TERM": "dumb"}
    out = []
    for cmd in (c.strip() for c in cmds.split(";")):
        argv = shlex.split(cmd)
        silent = argv[-2:] == [">", "/dev/null"]
        argv = argv[:-2] if silent else argv
        if argv[0] == "cat" and len(argv) == 2:
            out.append((work / argv[1]).read_text())
            continue
        if argv[0] != "cimsdk":
            raise SystemExit(f"doc_samples: only `cimsdk ...` and `cat FILE` run in a sample, not {cmd!r}")
        res = subprocess.run([sys.executable, "-m", "cimsdk", *argv[1:]], cwd=work, env=env, capture_output=True,
                             text=True, timeout=600)
        if res.returncode not in (0, 1):
            raise SystemExit(f"doc_samples: {cmd!r} exited {res.returncode}: {res.stderr.strip()}")
        out.append("" if silent else res.stdout)
    text = "".join(out)
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def regenerate(doc: Path, work: Path) -> tuple[str, list[str]]:
    """The doc's text with every sample regenerated, and the commands of the samples that changed."""
    text = doc.read_text()
    stale: list[str] = []

    def fill(m: re.Match) -> str:
        body = _run(m["cmds"], work)
        if body != m["body"]:
            stale.append(m["cmds"])
        return m.group(1) + body + m.group(4)

    return SAMPLE.sub(fill, text), stale


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="rewrite nothing; exit 1 if a sample is stale")
    args = ap.parse_args()
    work = _workdir()
    try:
        bad = 0
        for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
            if "<!-- BEGIN SAMPLE:" not in doc.read_text():
                continue
            new, stale = regenerate(doc, work)
            for cmds in stale:
                print(f"{doc.relative_to(ROOT)}: stale sample: {cmds}")
            bad += len(stale)
            if stale and not args.check:
                doc.write_text(new)
        if args.check and bad:
            print("run python3 scripts/doc_samples.py to regenerate them")
        return 1 if args.check and bad else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
