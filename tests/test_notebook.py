"""examples/notebook/cimsdk_api.ipynb runs top to bottom in a real Jupyter kernel (nbclient + ipykernel)
and shows the report table and the plots inline; its own cells assert TFLM agrees."""

from __future__ import annotations

from pathlib import Path

import pytest
from paths import MODELS, ROOT

NOTEBOOK = ROOT / "examples" / "notebook" / "cimsdk_api.ipynb"


@pytest.mark.skipif(not (MODELS / "kws_ref_model.tflite").is_file(), reason="../shared missing")
def test_notebook_runs_with_inline_outputs(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat", reason="pip install nbformat nbclient ipykernel (test extras)")
    nbclient = pytest.importorskip("nbclient", reason="pip install nbclient ipykernel (test extras)")
    pytest.importorskip("ipykernel", reason="pip install ipykernel (test extras)")
    pytest.importorskip("tflite_micro", reason="the notebook compares with TFLM (cimsdk[ref])")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any("kws_ref_model" in h for h in html)  # the report table
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 3  # utilization chart, outputs, energy per layer
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    # ../shared/README.md: yes -> Yes, no -> Go (the model's known confusion), silence -> Silence
    said = dict(line.split(" -> ") for line in text.splitlines() if " -> " in line)
    assert {k.strip(): v for k, v in said.items()} == {"yes_1000ms.wav": "yes", "no_1000ms.wav": "go",
                                                      "silence_1000ms.wav": "silence"}
    assert "0 mismatching elements" in text
