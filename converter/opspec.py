"""Moved to `cimcontracts.ops` (the op specification, declared once below cimconv and cimsdk); this name stays
an alias so existing imports keep working and see the very same module object."""

import sys

from cimcontracts import ops as _moved

sys.modules[__name__] = _moved
