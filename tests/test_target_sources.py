"""Every number in the target files added for issue 19 has a source: a tag [key] of the file's [sources]
table, "(derived)" with its arithmetic from sourced figures, or "(model)" for a modelling choice."""

from __future__ import annotations

import re
import tomllib

import pytest
from paths import ROOT

NUMBER = re.compile(r"^\s*(\w+)\s*=\s*(-?[\d.]+(?:e-?\d+)?|true|false)\s*(#.*)?$")


@pytest.mark.parametrize("name", ["reram-acim", "hybrid-cim", "sram-fpcim"])
def test_every_number_has_a_source(name):
    text = (ROOT / "converter" / "targets" / f"{name}.toml").read_text()
    data = tomllib.loads(text)
    sources = data["sources"]
    used: set[str] = set()
    numbers = 0
    for line in text.splitlines():
        got = NUMBER.match(line)
        if not got or got.group(1) in ("id", "exact"):  # an identifier and a kind, not figures
            continue
        numbers += 1
        comment = got.group(3) or ""
        tags = set(re.findall(r"\[(\w+)\]", comment))
        assert tags <= set(sources), f"{line!r}: unknown source {tags - set(sources)}"
        assert tags or "(model)" in comment or "(derived)" in comment, f"{line!r} has no source, '(model)' or '(derived)'"
        if "(derived)" in comment:
            assert tags, f"{line!r}: derived from what?"
        used |= tags
    figures = sum(isinstance(v, int | float) and not isinstance(v, bool)
                  for table in data.values() if isinstance(table, dict) for v in table.values())
    assert numbers == figures > 10  # every number of the file was looked at
    assert used == set(sources)  # every source is used, none is decoration
