"""CLI basics: the supported-ops table, and convert/run never importing TensorFlow."""

from __future__ import annotations

import subprocess
import sys

from paths import MODELS

from cimconv.opspec import OPS


def test_supported_ops_table_lists_every_op(tmp_path):
    res = subprocess.run([sys.executable, "-m", "cimsdk.cli", "convert", "--supported-ops"], capture_output=True,
                         text=True, cwd=tmp_path, timeout=120)
    assert res.returncode == 0
    for name in OPS:
        assert name in res.stdout
    assert "CiM macro" in res.stdout and "MCU CPU" in res.stdout


def test_convert_and_run_do_not_import_tensorflow(tmp_path):
    code = (
        "import sys, numpy as np\n"
        "from cimconv.pipeline import convert\n"
        "from cimsdk.golden import Executor\n"
        f"c = convert(r'{MODELS / 'kws_ref_model.tflite'}', 'nor-acim')\n"
        "Executor(c.image_bytes).run(np.zeros((2, 49, 10, 1), np.int8))\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf_keras')]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
