"""cimsdk: host tools around a compute-in-memory device (CLI, golden model, transport, tools).

The Python API for notebooks and scripts is `cimsdk.api` (docs/api.md); the CLI is a thin layer over it.
"""

from pathlib import Path

__version__ = "0.1.0"


def project_root() -> Path:
    """The folder holding firmware/, boards/ and rtl/: the checkout, or the installed package's data.

    Kept for callers of earlier versions; new code uses `cimcontracts.resources.data_root()`.
    """
    from cimcontracts.resources import data_root

    return data_root()
