"""Optional dependencies: which pip extra brings each one, and a one-line error when it is missing.

`pip install cimsdk` installs what convert, run, compare and the device tools need. Heavier or
platform-specific packages come with extras (pyproject.toml): a missing one is a UserError naming the
extra to install, from `require()` where cimsdk knows it needs one, and from the CLI for any other
import of these modules that fails.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from cimcontracts.errors import UserError

#: top-level module -> (pip package, cimsdk extra that installs it)
OPTIONAL: dict[str, tuple[str, str]] = {
    "platformio": ("platformio", "firmware"),
    "SCons": ("scons", "firmware"),
    "matplotlib": ("matplotlib", "plots"),
    "numba": ("numba", "fast"),
    "tensorflow": ("tensorflow-cpu", "tf"),
    "tflite_micro": ("tflite-micro", "ref"),
    "ai_edge_litert": ("ai-edge-litert", "ref"),
    "pyjoulescope_driver": ("pyjoulescope-driver", "joulescope"),
    "ray": ("ray[tune]", "explore"),
    "optuna": ("optuna", "explore"),
    "labgrid": ("labgrid", "farm"),
    "pythondata_cpu_picorv32": ("pythondata-cpu-picorv32", "fpga"),
}


def install_hint(module: str) -> str | None:
    """`pip install 'cimsdk[extra]'` for a known optional module (its top-level name), else None."""
    top = module.split(".", 1)[0]
    if top not in OPTIONAL:
        return None
    package, extra = OPTIONAL[top]
    return f"{package} is not installed: pip install 'cimsdk[{extra}]' (or pip install {package})"


def require(module: str, what: str) -> ModuleType:
    """Import an optional module, or raise a UserError saying which extra to install for `what`."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = install_hint(module) or f"{module} is not installed"
        raise UserError(f"{what} needs {module}; {hint}") from exc
