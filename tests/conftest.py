"""Shared fixtures: where the real models and recordings live (../shared beside the checkout)."""

import signal
from pathlib import Path

import pytest

import cimsdk

SHARED = cimsdk.project_root().parent / "shared"

# A test run started in the background by a non-interactive shell (`cmd &`) inherits SIGINT ignored, and so
# would every board and command the tests start: Python then installs no Ctrl-C handler, and the tests that
# send SIGINT on purpose (to `cimsdk emulate`, the launchers) saw it ignored and left boards running. The
# tests play an interactive user, so SIGINT gets its default meaning here and in every child.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared models and data not found at {SHARED}")
    return SHARED


@pytest.fixture(scope="session")
def models_dir(shared_dir: Path) -> Path:
    return shared_dir / "models"


@pytest.fixture(scope="session")
def data_dir(shared_dir: Path) -> Path:
    return shared_dir / "data"
