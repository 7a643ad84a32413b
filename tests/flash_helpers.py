"""Shared fixtures of the flashing tests: host bootloader build, converted models, slot builds."""

from __future__ import annotations

from pathlib import Path

from cimsdk import project_root

SHARED = project_root().parent / "shared"


def convert(model: str, out: Path) -> Path:
    """cimsdk convert MODEL -o OUT through the CLI; returns OUT/model.cimg."""
    from click.testing import CliRunner

    from cimsdk.cli import cli

    src = SHARED / "models" / model
    if not src.exists():
        import pytest

        pytest.skip(f"{src} missing")
    res = CliRunner().invoke(cli, ["convert", str(src), "-o", str(out), "-q"], standalone_mode=False)
    assert res.exit_code == 0, res.output
    images = sorted(out.glob("*.cimg"))
    assert images, list(out.iterdir())
    return images[0]
