"""Joulescope backend without hardware: discovery fails cleanly; a missing driver is a UserError."""

from __future__ import annotations

import sys

import pytest

from cimconv.errors import UserError
from cimsdk.power.meters import create_meter


def test_missing_driver_package_is_a_user_error(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "pyjoulescope_driver", None)  # import now raises ImportError
    meter = create_meter("joulescope")
    with pytest.raises(UserError, match="pip install pyjoulescope-driver"):
        meter.open()


def test_no_device_found_is_a_user_error() -> None:
    mod = pytest.importorskip("pyjoulescope_driver")
    with mod.Driver() as d:
        if d.device_paths():
            pytest.skip("a Joulescope is connected")
    meter = create_meter("joulescope:NOSUCHSERIAL", {"rate": "100000"})
    with pytest.raises(UserError, match="no Joulescope with serial NOSUCHSERIAL"):
        meter.open()
    assert meter.driver is None  # the driver instance was finalized, nothing left open
