"""A target TOML with some keys changed, comments and sources kept: each explored point is a real target
file, so the best one is handed over as is (`cimsdk convert MODEL -t best_target.toml`)."""

from __future__ import annotations

import json
import re
import tempfile
import tomllib
from pathlib import Path
from typing import Any

from cimconv.errors import UserError
from cimconv.target import Target, load_target

_SECTION = re.compile(r"^\s*\[([^\[\]]+)\]\s*(#.*)?$")
_VALUE = r'("(?:[^"\\]|\\.)*"|[^\s#]+)'


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v) if v == v and abs(v) != float("inf") else ("nan" if v != v else ("inf" if v > 0 else "-inf"))
    return json.dumps(str(v))


def render(base_text: str, overrides: dict[str, Any], header: str = "") -> str:
    """`base_text` with each "section.key" of `overrides` set (added under its section when absent)."""
    lines = base_text.splitlines()
    section = ""
    done: set[str] = set()
    out: list[str] = []
    for line in lines:
        m = _SECTION.match(line)
        if m:
            section = m.group(1).strip()
        else:
            for name, v in overrides.items():
                sec, key = name.split(".", 1)
                if sec == section and name not in done:
                    rep, n = re.subn(rf"^(\s*{re.escape(key)}\s*=\s*){_VALUE}", lambda mm, v=v: mm.group(1)
                                     + toml_value(v), line)
                    if n:
                        line = rep
                        done.add(name)
        out.append(line)
    missing = [n for n in overrides if n not in done]
    for name in missing:
        sec, key = name.split(".", 1)
        idx = next((i for i, ln in enumerate(out) if (m := _SECTION.match(ln)) and m.group(1).strip() == sec), None)
        if idx is None:
            out += ["", f"[{sec}]"]
            idx = len(out) - 1
        out.insert(idx + 1, f"{key} = {toml_value(overrides[name])}")
    text = (header + "\n" if header else "") + "\n".join(out) + "\n"
    data = tomllib.loads(text)
    for name, v in overrides.items():
        sec, key = name.split(".", 1)
        if data.get(sec, {}).get(key) != v:
            raise UserError(f"could not set {name} = {v!r} in the target file; is it a plain key = value line?")
    return text


def load_text(text: str) -> Target:
    """A Target from TOML text (load_target reads files)."""
    with tempfile.TemporaryDirectory(prefix="cimsdk-explore-") as d:
        p = Path(d) / "point.toml"
        p.write_text(text)
        return load_target(str(p))
