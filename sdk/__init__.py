"""cimsdk: host tools around a compute-in-memory device (CLI, golden model, transport, tools)."""

from pathlib import Path

__version__ = "0.1.0"


def project_root() -> Path:
    """The checkout holding firmware/, boards/ and converter/ (the package is installed editable)."""
    return Path(__file__).resolve().parent.parent
