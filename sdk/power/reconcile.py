"""One inference's energy three ways, side by side, with each difference explained.

The demo and `cimsdk profile` show the same table (docs/energy-model.md, "The reconciliation table"):

- **converter**: the converter's report (`totals.energy`): modelled CPU cycles (the board's cycle
  costs) and the macro counts of the image's tiles;
- **counters**: the same formula (`cimconv.energy.price`) on what the device counted: CPU cycles
  measured by the device (mcycle minus the instructions it spent polling the coprocessor) and the
  macro operations the coprocessor counted;
- **meter**: the power meter's integral over the inference window (emulated board: the emulated
  meter, fed from the same counters; real board: a real meter).

Rows differ only in their inputs, so each difference has a cause the table can name: converter vs
counters is the cycle-cost model against the measured cycles (macro counts are equal when the
coprocessor agrees with the converter), counters vs meter is what sampling adds (whole sample bins at
the window's edges) and, on a real board, everything the model leaves out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from cimconv import energy

#: Row names in table order; docs/energy-model.md defines each one.
SOURCES = ("converter", "counters", "meter")


@dataclass
class Row:
    """One way of getting one inference's energy; None where that source cannot split the figure."""

    source: str
    what: str
    cpu_cycles: float | None
    cpu_uj: float | None
    cim_uj: float | None
    static_uj: float | None
    total_uj: float
    latency_us: float

    @property
    def dynamic_uj(self) -> float | None:
        if self.static_uj is None:
            return None
        return self.total_uj - self.static_uj


def converter_row(report: dict) -> Row:
    """From a converter report.json (`totals.energy`, priced with `report['board']`)."""
    e = report["totals"]["energy"]
    return Row("converter", f"model: cycle costs of board {report.get('board', '?')} + the image's macro counts",
               e["cpu_cycles"], e["cpu_uj"], e["cim_uj"], e["static_uj"], e["total_uj"], e["latency_us"])


def counters_row(cpu_cycles: float, counts: dict[str, int], cim_latency_us: float, mcu: energy.Mcu,
                 target_energy: dict, what: str) -> Row:
    """The model on the device's counters: measured CPU cycles, the coprocessor's macro counts."""
    e = energy.price(cpu_cycles, counts, cim_latency_us, mcu, target_energy)
    return Row("counters", what, e.cpu_cycles, e.cpu_uj, e.cim_uj, e.static_uj, e.total_uj, e.latency_us)


def meter_row(profile: dict) -> Row | None:
    """From `cimsdk profile`'s report.json: energy of a marked window, idle power x window time as static."""
    uj, ms = profile.get("uj_per_inference"), profile.get("inference_ms")
    if uj is None or ms is None:
        return None
    idle_mw = profile.get("idle_mw")
    static = None if idle_mw is None else idle_mw * ms  # mW x ms = uJ
    return Row("meter", f"{profile.get('meter', 'meter')} meter: window energy at "
               f"{profile.get('sample_rate_hz', 0):,.0f} S/s, median of {profile.get('windows', 0)} inferences",
               None, None, None, static, uj, ms * 1e3)


def _pct(a: float, b: float) -> float | None:
    return None if b == 0 else 100.0 * (a - b) / b


def explain(rows: list[Row], mcu: energy.Mcu | None = None, wait_instructions: float | None = None) -> list[dict]:
    """The differences between neighbouring rows, each with its cause in numbers."""
    by = {r.source: r for r in rows}
    out: list[dict] = []
    conv, cnt, met = by.get("converter"), by.get("counters"), by.get("meter")
    if conv and cnt:
        parts = []
        if conv.cpu_cycles is not None and cnt.cpu_cycles is not None:
            dcyc = cnt.cpu_cycles - conv.cpu_cycles
            parts.append(f"CPU cycles: device {cnt.cpu_cycles:,.0f}, cycle-cost model {conv.cpu_cycles:,.0f} "
                         f"({dcyc:+,.0f}): {cnt.cpu_uj - conv.cpu_uj:+.3f} uJ CPU")
            if mcu is not None:
                parts[-1] += f" at {mcu.pj_per_cycle:g} pJ/cycle"
        parts.append(f"macro operations: {cnt.cim_uj - conv.cim_uj:+.3f} uJ"
                     + (" (the coprocessor counted what the converter modelled)" if abs(cnt.cim_uj - conv.cim_uj) < 1e-9
                        else " (the coprocessor's counts differ from the converter's model: see the counter check)"))
        parts.append(f"static power over {cnt.latency_us - conv.latency_us:+.1f} us of latency: "
                     f"{cnt.static_uj - conv.static_uj:+.3f} uJ")
        if wait_instructions:
            parts.append("not counted: the cycles the device spent polling the coprocessor; under emulation they "
                         "measure how fast the host ran the coprocessor process, not the device")
        out.append({"between": ["counters", "converter"], "delta_uj": cnt.total_uj - conv.total_uj,
                    "delta_pct": _pct(cnt.total_uj, conv.total_uj), "why": parts})
    ref = cnt or conv
    if met and ref:
        parts = [f"latency: meter window {met.latency_us:,.1f} us (marker, whole sample bins) vs "
                 f"{ref.latency_us:,.1f} us in the model"]
        if met.static_uj is not None and ref.static_uj is not None:
            parts.append(f"static: idle power measured x window {met.static_uj:.3f} uJ vs "
                         f"{ref.static_uj:.3f} uJ modelled ({met.static_uj - ref.static_uj:+.3f} uJ)")
            parts.append(f"dynamic (above idle): {met.dynamic_uj:.3f} uJ vs {ref.dynamic_uj:.3f} uJ "
                         f"({met.dynamic_uj - ref.dynamic_uj:+.3f} uJ)")
        out.append({"between": ["meter", ref.source], "delta_uj": met.total_uj - ref.total_uj,
                    "delta_pct": _pct(met.total_uj, ref.total_uj), "why": parts})
    return out


def reconcile(rows: list[Row | None], mcu: energy.Mcu | None = None,
              wait_instructions: float | None = None) -> dict:
    """The table as data (report.json `reconciliation`, and what the HTML pages render)."""
    kept = [r for r in rows if r is not None]
    kept.sort(key=lambda r: SOURCES.index(r.source))
    return {"rows": [asdict(r) | {"dynamic_uj": r.dynamic_uj} for r in kept],
            "differences": explain(kept, mcu, wait_instructions),
            "board": None if mcu is None else mcu.board}


def rows_from(rec: dict) -> list[Row]:
    """Rows back from `reconcile(...)["rows"]`."""
    return [Row(**{k: v for k, v in r.items() if k != "dynamic_uj"}) for r in rec["rows"]]


def check_counts(coprocessor: dict[str, int], model: dict[str, int]) -> list[str]:
    """Where the coprocessor's counters disagree with the converter's model of the same image."""
    problems = []
    for name in energy.COUNT_KEYS:
        want, got = int(model.get(name, 0)), int(coprocessor.get(name, 0))
        if got != want:
            problems.append(f"coprocessor counted {got:,} {name}, the converter's model {want:,}")
    return problems
