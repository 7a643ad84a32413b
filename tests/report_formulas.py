"""Checks shared by the report-page tests: every figure names a formula of docs/energy-model.md, and a
page renders in a real browser (headless Chromium from Debian) to a non-blank screenshot."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from cimsdk import project_root

DOC = project_root() / "docs" / "energy-model.md"


def documented_formulas() -> set[str]:
    """Names in the first column of the "Every figure on the report pages" table (`NAME` or `A`, `B`)."""
    text = DOC.read_text()
    section = text.split("## Every figure on the report pages", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names |= set(re.findall(r"`([A-Za-z_0-9]+)`", line.split("|")[1]))
    return names


class _Cells(HTMLParser):
    """Every element's data-formula, and the numeric table cells (td class n) with the formula they carry."""

    def __init__(self) -> None:
        super().__init__()
        self.formulas: list[str] = []
        self.numeric: list[tuple[str | None, str]] = []  # (formula, text) of td.n cells inside energy tables
        self._table: list[str] = []
        self._td: tuple[str | None] | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-formula" in a:
            self.formulas.append(a["data-formula"] or "")
        if tag == "table":
            self._table.append(a.get("id") or "")
        if tag == "td" and "n" in (a.get("class") or "").split() and self._table and self._table[-1] in (
                "reconciliation", "baselines"):
            self._td = (a.get("data-formula"),)
            self._text = ""

    def handle_data(self, data):
        if self._td is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "td" and self._td is not None:
            self.numeric.append((self._td[0], self._text.strip()))
            self._td = None
        if tag == "table" and self._table:
            self._table.pop()


def check_traceable(html: str) -> list[str]:
    """The figures of `html` whose formula is missing or undocumented (empty: all traceable)."""
    p = _Cells()
    p.feed(html)
    known = documented_formulas()
    bad = [f"data-formula={f!r} is not in {DOC.name}" for f in p.formulas if f not in known]
    bad += [f"figure {text!r} in an energy table names no formula" for f, text in p.numeric
            if re.search(r"\d", text) and not f]
    assert p.formulas, "no figure carries data-formula"
    return bad


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(page: Path, png: Path, width: int = 1280, height: int = 3000) -> np.ndarray:
    """Headless Chromium renders `page` to `png`; returns the screenshot as grey levels."""
    from PIL import Image

    exe = chromium()
    assert exe is not None
    res = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                          f"--window-size={width},{height}", f"--screenshot={png}", page.resolve().as_uri()],
                         capture_output=True, text=True, timeout=180)
    assert res.returncode == 0 and png.is_file(), res.stderr[-2000:]
    with Image.open(png) as im:
        return np.asarray(im.convert("L"), dtype=np.float64)
