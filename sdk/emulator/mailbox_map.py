"""Moved to `cimcontracts.mailbox` (the contracts package, docs/contracts.md); this name stays an alias so
existing imports see the very same module object."""

import sys

from cimcontracts import mailbox as _moved

sys.modules[__name__] = _moved
