"""Shared fixtures: where the real models and recordings live (../shared beside the checkout)."""

from pathlib import Path

import pytest

import cimsdk

SHARED = cimsdk.project_root().parent / "shared"


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
