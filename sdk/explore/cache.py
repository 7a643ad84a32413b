"""Content-hash cache of evaluated points, so an interrupted sweep resumes where it stopped.

A point's key is the SHA-256 of everything its result depends on, as resolved values rather than file text:
the model bytes, the data (inputs, labels, calibration frames), the full target TOML the point converts with,
the resolved noise model, chips, seed, chip split and the simulator version. Changing any of them misses the
cache; two space files that reach the same point share it. One JSON file per (point, model) under the cache
folder, written atomically (a sweep killed mid-write leaves no half entry).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cimsdk
from cimconv import atomic
from cimsdk.explore import target_file
from cimsdk.explore.point import Context, build_noise, design_overrides, point_version

CACHE_VERSION = 1


def point_key(ctx: Context, model: int, point: dict) -> str:
    md = ctx.models[model]
    try:
        text = target_file.render(ctx.base_target_text, design_overrides(point))
        target = target_file.load_text(text)
        noise = build_noise(point, target).summary()
        noise.pop("path", None)
    except Exception as exc:  # noqa: BLE001 - an unconvertible point is cached too, keyed by its raw values
        text, noise = f"invalid: {point!r}", {"error": str(exc)}
    blob = json.dumps({
        "cache": CACHE_VERSION, "cimsdk": cimsdk.__version__, "simulator": point_version(),
        "model": md.sha256, "data": md.data_sha256, "target": text, "noise": noise,
        "chips": ctx.chips, "seed": ctx.seed, "chip_blocks": ctx.chip_blocks,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


class Cache:
    def __init__(self, folder: Path | None):
        self.folder = Path(folder) if folder is not None else None

    def _path(self, key: str) -> Path:
        assert self.folder is not None
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        if self.folder is None:
            return None
        p = self._path(key)
        try:
            return json.loads(p.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, key: str, record: dict) -> None:
        if self.folder is not None:
            atomic.write_text(self._path(key), json.dumps(record, default=float) + "\n")
