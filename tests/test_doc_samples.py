"""The command outputs shown in the docs are what cimsdk prints today (scripts/doc_samples.py)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "doc_samples.py"


def _module():
    spec = importlib.util.spec_from_file_location("doc_samples", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_docs_samples_are_current():
    res = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_stale_sample_is_found_and_regenerated(tmp_path):
    mod = _module()
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- BEGIN SAMPLE: cimsdk run kws -i yes_1000ms.wav -->\n```text\n0: top-1 3  [old]\n"
                   "```\n<!-- END SAMPLE -->\nafter\n")
    work = mod._workdir()
    try:
        mod._run("cimsdk convert kws_ref_model.tflite -o kws > /dev/null", work)
        new, stale = mod.regenerate(doc, work)
    finally:
        import shutil

        shutil.rmtree(work)
    assert stale == ["cimsdk run kws -i yes_1000ms.wav"]
    assert "[old]" not in new and new.startswith("intro\n") and new.endswith("<!-- END SAMPLE -->\nafter\n")
    body = new.split("```text\n", 1)[1].split("```", 1)[0]
    assert body.startswith("0: top-1 ") and body.count("\n") == 1, body
