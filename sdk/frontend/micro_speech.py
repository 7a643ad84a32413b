"""TFLM micro_speech front end: run `audio_preprocessor_int8.tflite` on the host, frame by frame.

The preprocessor uses TFLM's custom Signal ops (FFT, filter bank, noise reduction, PCAN), which only the
`tflite-micro` Python interpreter runs, so this route needs the `ref` extra. The preprocessor keeps state
between frames (noise estimate), so the 49 frames of one clip run in order on one interpreter that is reset
before each clip: a clip's features never depend on the clip before it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cimconv.errors import UserError

FRAME_LENGTH = 480
FRAME_STEP = 320
NUM_FRAMES = 49
NUM_FEATURES = 40
MICRO_SPEECH_LABELS = ("silence", "unknown", "yes", "no")


def default_preprocessor() -> Path:
    """TFLM's audio_preprocessor_int8.tflite: the bundled sample (or the shared copy beside a checkout)."""
    from cimcontracts.resources import samples_root

    root = samples_root()
    return (root / "models" if root else Path("models")) / "audio_preprocessor_int8.tflite"


class MicroSpeechFrontend:
    """Holds one TFLM interpreter for the preprocessor, so a batch of clips loads the model once."""

    def __init__(self, preprocessor: str | Path | None = None) -> None:
        path = Path(preprocessor) if preprocessor is not None else default_preprocessor()
        if not path.is_file():
            raise UserError(
                f"audio preprocessor model not found: {path}; pass the path of audio_preprocessor_int8.tflite"
            )
        try:
            from tflite_micro.python.tflite_micro import runtime
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise UserError(
                "the micro_speech front end needs the tflite-micro package: pip install 'cimsdk[ref]'"
            ) from exc
        self._interp = runtime.Interpreter.from_file(str(path))

    def features(self, audio: np.ndarray) -> np.ndarray:
        """int8 features [batch, 1960] for int16 clips [n] or [batch, n] (cut or zero-padded to 1 s)."""
        a = np.asarray(audio)
        if a.ndim == 1:
            a = a[None, :]
        if a.dtype != np.int16:
            if np.issubdtype(a.dtype, np.floating):
                a = np.clip(np.round(a * 32768.0), -32768, 32767)
            a = a.astype(np.int16)
        need = (NUM_FRAMES - 1) * FRAME_STEP + FRAME_LENGTH
        if a.shape[1] < need:
            a = np.pad(a, ((0, 0), (0, need - a.shape[1])))
        out = np.empty((a.shape[0], NUM_FRAMES * NUM_FEATURES), dtype=np.int8)
        for b in range(a.shape[0]):
            self._interp.reset()
            for i in range(NUM_FRAMES):
                frame = a[b, i * FRAME_STEP : i * FRAME_STEP + FRAME_LENGTH][None, :]
                self._interp.set_input(np.ascontiguousarray(frame), 0)
                self._interp.invoke()
                out[b, i * NUM_FEATURES : (i + 1) * NUM_FEATURES] = self._interp.get_output(0).reshape(-1)
        return out
