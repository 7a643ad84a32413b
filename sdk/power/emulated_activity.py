"""The emulated board's measured counters -> ActivitySegments on the emulated time axis.

What is measured, per inference, over the console (GET_COUNTERS after each RUN_MARKED(1)):

- ``cycles``/``instret`` of the inference (mcycle/minstret; deterministic under ``-icount``);
- ``wait_insns``: instructions the CPU spent spinning on the coprocessor (HAL total, as a delta);
- ``cim_ops``: CiM ops the HAL handed to the macro (HAL total, as a delta).

What comes from the image the device runs (the same functions the coprocessor uses to fill its own
counters, `cimsdk.golden.Executor.op_counters` -> `cimconv.energy.cim_counts`): the macro operations
(MACs, ADC conversions, input-bit pulses, digital ops) each CiM op issues, and how long the macro
takes for it (`cimconv.energy.cim_cycles` at the target's macro clock).

Time axis (docs/energy-model.md): CPU work is ``(cycles - wait) / clock_hz`` of the board; the
coprocessor's share of the window is the macro's modelled latency, not the spin count, because the
spin count measures how fast the host process ran the golden model, not the hardware. During the
macro latency the CPU is stalled (WFI-like): no CPU energy beyond idle. The spin instructions are
still reported (`wait_instructions`) so nothing is hidden.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cimconv.errors import UserError
from cimsdk.power.energy_model import ActivitySegment


@dataclass
class InferenceCounters:
    """Counters of one marked inference as the device reported them."""

    cycles: int
    instret: int
    wait_instructions: int
    cim_ops: int

    @property
    def cpu_cycles(self) -> int:
        """CPU work: the inference's cycles minus the coprocessor spin (cycles == instret under -icount)."""
        return max(self.cycles - self.wait_instructions, 0)


@dataclass
class ImageActivity:
    """Per-CiM-op macro counts and latency of one weight image (no CPU figures: those are measured)."""

    target: str
    cim_op_indices: list[int]
    counts: list[dict[str, int]]
    latency_s: list[float]
    totals: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_image(cls, image: bytes) -> ImageActivity:
        from cimconv import energy
        from cimconv.image import parse_image
        from cimsdk.golden import Executor

        img = parse_image(image)
        ex = Executor(img)
        tgt = ex.cim.target_or_load()
        clock_hz = energy.macro_clock_hz(tgt)
        idx, counts, lat = [], [], []
        for i, op in enumerate(img.ops):
            if not op.cim:
                continue
            c = ex.op_counters(i)
            m = img.matrices[op.params["matrix"]]
            positions = c["tile_ops"] // max(len(m.tiles), 1)
            idx.append(i)
            counts.append(c)
            bits = energy.input_bits(img.tensors[op.inputs[0]].dtype)
            lat.append(energy.cim_cycles(m.kind, m.tiles, positions, tgt, bits) / clock_hz)
        totals: dict[str, int] = {}
        for c in counts:
            for k, v in c.items():
                totals[k] = totals.get(k, 0) + v
        return cls(img.target, idx, counts, lat, totals)

    @property
    def n_cim_ops(self) -> int:
        return len(self.cim_op_indices)

    @property
    def latency_total_s(self) -> float:
        return float(sum(self.latency_s))


def inference_segments(t0: float, c: InferenceCounters, backend: str, image: ImageActivity | None,
                       clock_hz: float) -> tuple[list[ActivitySegment], float]:
    """Marked segments of one inference starting at `t0`; returns them and the window's end time.

    mailbox: one segment per CiM op (its macro counts over its modelled latency), then the CPU's
    measured work. soft: the CPU does every MAC, so the whole window is CPU cycles and no macro runs.
    The order inside a window is schematic (the runtime interleaves CPU ops and CiM ops); each
    segment's energy and the window's length are what the counters say.
    """
    segs: list[ActivitySegment] = []
    t = t0
    if backend == "mailbox":
        if image is None:
            raise UserError("the mailbox backend needs the device's weight image to know its macro "
                            "operations; pass --image model.cimg (the image loaded on the device)")
        if c.cim_ops != image.n_cim_ops:
            raise UserError(
                f"the device ran {c.cim_ops} CiM ops in one inference, the image has {image.n_cim_ops}; "
                "is --image the image loaded on the device?")
        for counts, lat in zip(image.counts, image.latency_s, strict=True):
            segs.append(ActivitySegment(t, t + lat, 0, dict(counts), True))
            t += lat
        cpu = c.cpu_cycles
    elif backend == "soft":
        cpu = c.cycles  # no coprocessor: every cycle is CPU work, including the MACs
    else:
        raise UserError(f"device backend {backend!r} is unknown to the emulated meter; expected mailbox or soft")
    dur = cpu / clock_hz
    segs.append(ActivitySegment(t, t + dur, cpu, {}, True))
    return segs, t + dur


def counter_delta(before: dict[str, int], after: dict[str, int], last: dict) -> InferenceCounters:
    """One inference's counters from GET_COUNTERS before/after and RUN_MARKED(1)'s reply."""
    return InferenceCounters(
        cycles=int(last["cycles"]),
        instret=int(last["instret"]),
        wait_instructions=int(after.get("wait_insns", 0)) - int(before.get("wait_insns", 0)),
        cim_ops=int(after.get("cim_ops", 0)) - int(before.get("cim_ops", 0)),
    )
