"""Estimated energy of one on-device inference, from the device's counters and the energy model.

The emulated board has no current to measure, so the demo prices what the device *counted* with
the same model the emulated power meter uses (`cimsdk.power.energy_model`, docs/energy-model.md):

    E = cpu_instructions x pj_per_cycle                      (board [power] table)
      + sum_k cim_ops[k] x pj_per_<k>                          (target [energy] table)
      + (idle_mw + leakage_uw) x t,   t = cpu_instructions / clock_hz + CiM latency

`cpu_instructions` excludes the instructions the firmware spent polling the coprocessor: under
QEMU they count host time (the emulated coprocessor is a host process), and on silicon the core
would sleep there. Every macro operation is what the coprocessor counted in its mailbox slot of the
same name (`check_counts` compares them with the converter's model of the same tiles).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EnergyEstimate:
    """One inference's estimate, split so the report can show where the energy goes."""

    cpu_uj: float
    cim_uj: float
    static_uj: float
    time_us: float

    @property
    def total_uj(self) -> float:
        return self.cpu_uj + self.cim_uj + self.static_uj


def model_for(board: str, target: str):
    """The energy model of the board (CPU, idle) and the CiM target (per-operation energies)."""
    from cimsdk.power.energy_model import model_from_options

    return model_from_options(board, target)


def cim_ops_from_counters(mailbox_delta: dict[str, int]) -> dict[str, int]:
    """Energy-model operation counts of one inference, as the coprocessor counted them."""
    return {
        "mac": int(mailbox_delta.get("macs", 0)),
        "adc_conversion": int(mailbox_delta.get("adc_conversions", 0)),
        "input_bit": int(mailbox_delta.get("input_bit_pulses", 0)),
        "digital_op": int(mailbox_delta.get("digital_ops", 0)),
    }


def check_counts(mailbox_delta: dict[str, int], model_counts: dict[str, int]) -> list[str]:
    """Where the coprocessor's counters disagree with the converter's model of the same image."""
    from cimconv.energy import COUNT_KEYS

    problems = []
    for name in COUNT_KEYS:
        want = model_counts.get(name, 0)
        got = int(mailbox_delta.get(name, 0))
        if got != want:
            problems.append(f"coprocessor counted {got:,} {name}, the converter's model {want:,}")
    return problems


def estimate(model, cpu_instructions: int, cim_ops: dict[str, int], cim_latency_us: float) -> EnergyEstimate:
    """Price one inference with `model` (an `EnergyModel`)."""
    from cimsdk.power.energy_model import ActivitySegment

    t_s = model.cpu_seconds(cpu_instructions) + cim_latency_us * 1e-6
    cpu_j = model.dynamic_j(ActivitySegment(0.0, t_s, cpu_cycles=cpu_instructions))
    cim_j = model.dynamic_j(ActivitySegment(0.0, t_s, cim_ops={k: v for k, v in cim_ops.items() if v}))
    return EnergyEstimate(cpu_j * 1e6, cim_j * 1e6, model.static_w * t_s * 1e6, t_s * 1e6)
