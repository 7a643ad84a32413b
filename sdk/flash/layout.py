"""Moved to `cimcontracts.flash_layout` (the contracts package, docs/contracts.md); this name stays an alias so
existing imports see the very same module object."""

import sys

from cimcontracts import flash_layout as _moved

sys.modules[__name__] = _moved
