"""Nordic Power Profiler Kit II over its USB serial protocol (our own implementation).

Protocol facts (public clients: Nordic's nRF Connect Power Profiler, IRNAS ppk2-api-python):

- Host -> kit: one command byte plus arguments, e.g. GET_META_DATA 0x19, AVERAGE_START 0x06,
  AVERAGE_STOP 0x07, REGULATOR_SET 0x0D hi lo, DEVICE_RUNNING_SET 0x0C on, SET_POWER_MODE
  0x11 (1 = ampere meter, 2 = source meter).
- GET_META_DATA answers ASCII ``Key: value`` lines ending with ``END``: calibration per
  measurement range r in 0..4: R<r> (shunt ohm), GS<r>, GI<r> (gain), O<r> (ADC offset),
  S<r>, I<r> (supply-dependent and constant offset), UG<r> (user gain), plus Calibrated, HW, IA.
- While measuring the kit streams 100 kS/s little-endian 32-bit samples: bits 0-13 ADC value
  (times 4), bits 14-16 measurement range, bits 18-23 a 6-bit sample counter, bits 24-31
  the eight logic inputs D0-D7.
- Current (A) = UG * (x * (GS * x + GI) + S * vdd_V + I) with x = (adc - O) * (1.8 / 163840) / R.
"""

from __future__ import annotations

import time

import numpy as np

from cimconv.errors import UserError
from cimsdk.power.meters import Meter, SampleBlock

SAMPLE_RATE_HZ = 100_000
ADC_MULT = 1.8 / 163840
N_RANGES = 5
COUNTER_MOD = 64


class Cmd:
    """Command bytes of the PPK2 serial protocol."""

    NO_OP = 0x00
    TRIGGER_SET = 0x01
    AVG_NUM_SET = 0x02
    TRIGGER_WINDOW_SET = 0x03
    TRIGGER_INTERVAL_SET = 0x04
    TRIGGER_SINGLE_SET = 0x05
    AVERAGE_START = 0x06
    AVERAGE_STOP = 0x07
    RANGE_SET = 0x08
    LCD_SET = 0x09
    TRIGGER_STOP = 0x0A
    DEVICE_RUNNING_SET = 0x0C
    REGULATOR_SET = 0x0D
    SWITCH_POINT_DOWN = 0x0E
    SWITCH_POINT_UP = 0x0F
    SET_POWER_MODE = 0x11
    RES_USER_SET = 0x12
    SPIKE_FILTERING_ON = 0x15
    SPIKE_FILTERING_OFF = 0x16
    GET_META_DATA = 0x19
    RESET = 0x20
    SET_USER_GAINS = 0x25


POWER_MODE_AMPERE = 1
POWER_MODE_SOURCE = 2
VDD_MIN_MV = 800
VDD_MAX_MV = 5000

#: Calibration keys per range, and their values on an uncalibrated kit.
DEFAULT_CALIBRATION: dict[str, list[float]] = {
    "R": [1031.64, 101.65, 10.15, 0.94, 0.043],
    "GS": [1.0] * N_RANGES,
    "GI": [1.0] * N_RANGES,
    "O": [0.0] * N_RANGES,
    "S": [0.0] * N_RANGES,
    "I": [0.0] * N_RANGES,
    "UG": [1.0] * N_RANGES,
}


def regulator_bytes(mv: int) -> tuple[int, int]:
    """REGULATOR_SET arguments for a source voltage: 800 mV is (3, 32), then +1 per mV."""
    if not VDD_MIN_MV <= mv <= VDD_MAX_MV:
        raise UserError(f"PPK2 source voltage {mv} mV is outside {VDD_MIN_MV}-{VDD_MAX_MV} mV")
    code = mv - VDD_MIN_MV + 32 + 3 * 256
    return code >> 8, code & 0xFF


def regulator_mv(hi: int, lo: int) -> int:
    """Inverse of `regulator_bytes` (the simulator decodes what the host asked for)."""
    return (hi << 8 | lo) - 3 * 256 - 32 + VDD_MIN_MV


def format_metadata(cal: dict[str, list[float]], extra: dict[str, str] | None = None) -> bytes:
    """Metadata text as the kit sends it (used by the simulator and tests)."""
    lines = [f"{k}: {v}" for k, v in (extra or {}).items()]
    for key, values in cal.items():
        lines += [f"{key}{r}: {values[r]:.6g}" for r in range(N_RANGES)]
    return ("\n".join(lines) + "\nEND\n").encode()


def parse_metadata(text: str) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Calibration per range plus the other fields; missing or zero/NaN R keeps the default."""
    cal = {k: list(v) for k, v in DEFAULT_CALIBRATION.items()}
    other: dict[str, str] = {}
    body = text.split("END", 1)[0]
    for line in body.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        key, value = key.strip(), value.strip()
        base, idx = key.rstrip("0123456789"), key[len(key.rstrip("0123456789")):]
        if base in cal and idx and int(idx) < N_RANGES:
            try:
                v = float(value)
            except ValueError:
                continue  # "-nan" on some kits: keep the default
            if not np.isfinite(v) or (base == "R" and v == 0):
                continue
            cal[base][int(idx)] = v
        else:
            other[key] = value
    return cal, other


def encode_samples(current_a: np.ndarray, logic: np.ndarray, counter0: int, cal: dict[str, list[float]],
                   vdd_v: float) -> tuple[bytes, int]:
    """Raw sample words for currents (what the kit's firmware produces); returns next counter."""
    current_a = np.asarray(current_a, np.float64)
    n = len(current_a)
    raw = np.zeros(n, np.int64)
    rng = np.full(n, -1, np.int64)
    for r in range(N_RANGES):
        gs, gi, ug = cal["GS"][r], cal["GI"][r], cal["UG"][r]
        c = cal["S"][r] * vdd_v + cal["I"][r] - current_a / ug
        # Stable root of gs x^2 + gi x + c = 0 (also right for gs == 0).
        x = -2 * c / (gi + np.sqrt(np.maximum(gi * gi - 4 * gs * c, 0.0)))
        adc = x * cal["R"][r] / ADC_MULT + cal["O"][r]
        code = np.rint(adc / 4).astype(np.int64)
        ok = (rng < 0) & (code >= 0) & (code <= int(0x3FFF * 0.95))
        raw[ok], rng[ok] = code[ok], r
    over = rng < 0
    raw[over], rng[over] = 0x3FFF, N_RANGES - 1
    counter = (counter0 + np.arange(n)) % COUNTER_MOD
    words = raw | (rng << 14) | (counter << 18) | (np.asarray(logic, np.int64) & 0xFF) << 24
    return words.astype("<u4").tobytes(), int((counter0 + n) % COUNTER_MOD)


def _ema_at(x: np.ndarray, k: int, alpha: float, span: int = 256) -> float:
    """Exponential moving average of x ending at index k (window long enough to be exact to 1e-6)."""
    lo = max(0, k - span + 1)
    seg = x[lo : k + 1]
    w = alpha * (1 - alpha) ** np.arange(len(seg) - 1, -1, -1)
    w[0] += (1 - alpha) ** len(seg)  # the first value seeds the average
    return float(np.dot(w, seg))


class Decoder:
    """Raw bytes -> current, range, logic; keeps the partial word and counts lost samples."""

    def __init__(self, cal: dict[str, list[float]], vdd_v: float, spike_filter: bool = True) -> None:
        self.cal = {k: np.asarray(v, np.float64) for k, v in cal.items()}
        self.vdd_v = vdd_v
        self.spike_filter = spike_filter
        self.remainder = b""
        self.expected_counter: int | None = None
        self.lost_samples = 0
        self.prev_range: int | None = None
        self._history = np.zeros(0)

    def feed(self, data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        buf = self.remainder + data
        n = len(buf) // 4
        self.remainder = buf[n * 4 :]
        w = np.frombuffer(buf[: n * 4], dtype="<u4").astype(np.int64)
        adc = (w & 0x3FFF) * 4
        rng = np.minimum((w >> 14) & 0x7, N_RANGES - 1)
        counter = (w >> 18) & 0x3F
        logic = ((w >> 24) & 0xFF).astype(np.uint8)
        c = self.cal
        x = (adc - c["O"][rng]) * (ADC_MULT / c["R"][rng])
        cur = c["UG"][rng] * (x * (c["GS"][rng] * x + c["GI"][rng]) + c["S"][rng] * self.vdd_v + c["I"][rng])
        if n:
            self._check_counter(counter)
            if self.spike_filter:
                cur = self._filter(cur, rng)
        return cur, rng, logic

    def _check_counter(self, counter: np.ndarray) -> None:
        exp = self.expected_counter
        if exp is not None and counter[0] != exp:
            self.lost_samples += int((counter[0] - exp) % COUNTER_MOD)
        steps = (np.diff(counter) - 1) % COUNTER_MOD
        self.lost_samples += int(steps.sum())
        self.expected_counter = int((counter[-1] + 1) % COUNTER_MOD)

    def _filter(self, cur: np.ndarray, rng: np.ndarray) -> np.ndarray:
        """Replace the 3 samples from each range switch by a moving average, like Nordic's app.

        Shunt switching leaves a short transient; averaging over it keeps charge right."""
        hist = len(self._history)
        x = np.concatenate([self._history, cur])
        prev = np.concatenate([[self.prev_range if self.prev_range is not None else rng[0]], rng[:-1]])
        out = cur.copy()
        for k in np.flatnonzero(rng != prev):
            for j in range(k, min(k + 3, len(cur))):
                alpha = 0.06 if rng[j] == N_RANGES - 1 else 0.18
                out[j] = _ema_at(x, hist + j, alpha)
        self.prev_range = int(rng[-1])
        self._history = x[-256:]
        return out


class PPK2Meter(Meter):
    """A PPK2 on a serial port; source mode powers the DUT at `voltage_mv`, ampere mode measures."""

    name = "ppk2"
    sample_rate_hz = float(SAMPLE_RATE_HZ)

    def __init__(self, port: str, *, voltage_mv: int = 3300, mode: str = "source", marker_bit: int = 0,
                 spike_filter: bool = True, power_dut: bool = True) -> None:
        if mode not in ("source", "ampere"):
            raise UserError(f"ppk2 mode {mode!r} is unknown; use mode=source or mode=ampere")
        if not 0 <= marker_bit <= 7:
            raise UserError(f"ppk2 marker_bit={marker_bit} must be a logic input 0..7")
        self.port = port
        self.voltage_mv = int(voltage_mv)
        regulator_bytes(self.voltage_mv)  # validate early
        self.mode = mode
        self.marker_bit = marker_bit
        self.spike_filter = spike_filter
        self.power_dut = power_dut
        self.ser = None
        self.calibration = {k: list(v) for k, v in DEFAULT_CALIBRATION.items()}
        self.metadata: dict[str, str] = {}
        self.decoder: Decoder | None = None

    @classmethod
    def from_spec(cls, arg: str | None, **opts: str) -> PPK2Meter:
        if not arg:
            raise UserError("--meter ppk2 needs the kit's serial port: --meter ppk2:/dev/ttyACM0")
        known = {"voltage_mv", "mode", "marker_bit", "spike_filter"}
        unknown = set(opts) - known
        if unknown:
            raise UserError(f"ppk2 does not know option(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        try:
            return cls(
                arg,
                voltage_mv=int(float(opts.get("voltage_mv", "3300"))),
                mode=opts.get("mode", "source"),
                marker_bit=int(opts.get("marker_bit", "0")),
                spike_filter=opts.get("spike_filter", "1").lower() not in ("0", "false", "no", "off"),
            )
        except ValueError as exc:
            raise UserError(f"--meter-opt for ppk2 is not a number ({exc})") from None

    def _write(self, *cmd: int) -> None:
        assert self.ser is not None
        self.ser.write(bytes(cmd))
        self.ser.flush()

    def open(self) -> None:
        if self.ser is not None:
            return
        import serial

        try:
            self.ser = serial.Serial(self.port, 115200, timeout=0.05)
        except (serial.SerialException, OSError) as exc:
            raise UserError(f"cannot open PPK2 port {self.port} ({exc}); check the cable and the port name") from None
        self._write(Cmd.AVERAGE_STOP)  # a kit left streaming by a crashed client
        time.sleep(0.05)
        self.ser.reset_input_buffer()
        self._write(Cmd.GET_META_DATA)
        text = b""
        deadline = time.monotonic() + 3.0
        while b"END" not in text and time.monotonic() < deadline:
            text += self.ser.read(max(1, self.ser.in_waiting))
        if b"END" not in text:
            self.close()
            raise UserError(f"{self.port} did not answer GET_META_DATA like a PPK2; is it the kit's data port?")
        self.calibration, self.metadata = parse_metadata(text.decode("ascii", "replace"))
        self._write(Cmd.SET_POWER_MODE, POWER_MODE_SOURCE if self.mode == "source" else POWER_MODE_AMPERE)
        self._write(Cmd.REGULATOR_SET, *regulator_bytes(self.voltage_mv))
        if self.mode == "source" and self.power_dut:
            self._write(Cmd.DEVICE_RUNNING_SET, 1)

    def close(self) -> None:
        if self.ser is not None:
            try:
                self._write(Cmd.AVERAGE_STOP)
            except OSError:
                pass
            self.ser.close()
            self.ser = None

    def start(self) -> None:
        self.open()
        assert self.ser is not None
        self.decoder = Decoder(self.calibration, self.voltage_mv / 1000, self.spike_filter)
        self.ser.reset_input_buffer()
        self._write(Cmd.AVERAGE_START)

    def read(self, timeout: float) -> SampleBlock | None:
        assert self.ser is not None and self.decoder is not None
        self.ser.timeout = timeout
        data = self.ser.read(max(4, min(self.ser.in_waiting, 1 << 20)))
        if not data:
            return None
        cur, _rng, logic = self.decoder.feed(data)
        mark = (logic >> self.marker_bit) & 1
        return SampleBlock(cur, np.full(len(cur), self.voltage_mv / 1000), mark.astype(np.uint8))

    def stop(self) -> None:
        if self.ser is not None:
            self._write(Cmd.AVERAGE_STOP)

    def capture(self, **kwargs):  # type: ignore[override]
        trace = super().capture(**kwargs)
        if self.decoder is not None:
            trace.meta["lost_samples"] = str(self.decoder.lost_samples)
        trace.meta["ppk2_mode"] = self.mode
        return trace
