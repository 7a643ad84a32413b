"""Contracts between the host pieces: every macro-operation kind the energy model counts has its own
mailbox counter slot, so the emulated coprocessor reports exactly what the converter predicts."""

from cimconv.energy import COUNT_KEYS
from cimsdk.emulator.mailbox_map import COUNTER_NAMES


def test_every_energy_count_has_a_mailbox_slot():
    missing = [k for k in COUNT_KEYS if k not in COUNTER_NAMES]
    assert not missing, f"add {missing} to sdk/emulator/mailbox_map.COUNTER_NAMES and regenerate the header"
