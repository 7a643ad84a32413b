"""One way to turn a user's `--input` file into a model-ready array, for every command.

`load_input(path, spec)` accepts `.npy` (checked against the model's input shape and dtype), `.wav`
(audio through the front end the input shape implies) and BMP/PNG/JPEG images. The result always has a
leading batch dimension that replaces the model's own batch dimension of 1: shape [N, *spec.shape[1:]],
so `x[i:i+1]` is exactly one model input.

Audio route, decided by the input shape alone (documented in docs/frontends.md):
- [1, 49, 10, 1] (or [1, 49, 10]): MLPerf Tiny MFCC front end (`cimsdk.frontend.mfcc`);
- [1, 1960]: TFLM micro_speech front end (`cimsdk.frontend.micro_speech`, needs tflite-micro).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from cimconv.errors import ModelError, UserError

_TFLITE_TYPES = {
    0: "float32",
    1: "float16",
    2: "int32",
    3: "uint8",
    4: "int64",
    7: "int16",
    9: "int8",
    10: "float64",
}


@dataclass(frozen=True)
class InputSpec:
    """What a model's first input wants: shape (with batch), dtype name, and quantization (1.0/0 if float)."""

    shape: tuple[int, ...]
    dtype: str
    scale: float = 1.0
    zero_point: int = 0

    @classmethod
    def from_tflite(cls, path: str | Path, index: int = 0) -> InputSpec:
        """Read input `index` of subgraph 0 from a .tflite flatbuffer (no interpreter needed)."""
        import tflite

        path = Path(path)
        try:
            buf = path.read_bytes()
        except OSError as exc:
            raise ModelError(f"cannot read model {path}: {exc.strerror}; check the path") from exc
        if len(buf) < 8 or buf[4:8] != b"TFL3":
            raise ModelError(f"{path} is not a TFLite model (no TFL3 identifier); give a .tflite file")
        try:
            model = tflite.Model.GetRootAsModel(buf, 0)
            sg = model.Subgraphs(0)
            if index >= sg.InputsLength():
                raise ModelError(f"{path} has {sg.InputsLength()} inputs, no input {index}")
            t = sg.Tensors(sg.Inputs(index))
            shape = tuple(int(d) for d in t.ShapeAsNumpy())
            ttype = t.Type()
            q = t.Quantization()
            scale, zp = 1.0, 0
            if q is not None and q.ScaleLength() > 0:
                scale = float(q.ScaleAsNumpy()[0])
                zp = int(q.ZeroPointAsNumpy()[0]) if q.ZeroPointLength() > 0 else 0
        except ModelError:
            raise
        except Exception as exc:  # a corrupt flatbuffer raises anything from struct to IndexError
            raise ModelError(f"{path}: corrupt TFLite flatbuffer ({exc}); re-export the model") from exc
        if ttype not in _TFLITE_TYPES:
            raise ModelError(
                f"{path}: input tensor type {ttype} is not supported; use an int8 or float32 model"
            )
        return cls(shape=shape, dtype=_TFLITE_TYPES[ttype], scale=scale, zero_point=zp)

    @property
    def item_shape(self) -> tuple[int, ...]:
        """One input without the model's batch dimension of 1."""
        return self.shape[1:] if len(self.shape) > 1 and self.shape[0] == 1 else self.shape

    @property
    def audio_frontend(self) -> str | None:
        """'mfcc', 'micro_speech' or None: which audio front end this input shape calls for."""
        item = self.item_shape
        if item in ((49, 10, 1), (49, 10)):
            return "mfcc"
        if item == (1960,):
            return "micro_speech"
        return None


def _batch(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    return x.reshape((-1, *spec.item_shape))


def _load_npy(path: Path, spec: InputSpec) -> np.ndarray:
    try:
        x = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path} as a .npy array ({exc}); save it with numpy.save") from exc
    if x.size == 0:
        raise UserError(f"{path}: the array is empty (shape {list(x.shape)}); save at least one model input in it")
    if x.dtype != np.dtype(spec.dtype):
        raise UserError(
            f"{path}: array dtype {x.dtype} but the model input is {spec.dtype}; convert it (x.astype) first"
        )
    item = spec.item_shape
    shp = tuple(x.shape)
    ok = shp in (item, spec.shape) or (len(shp) >= 1 and (shp[1:] == item or shp[1:] == spec.shape))
    if not ok:
        raise UserError(
            f"{path}: array shape {list(shp)} does not match the model input {list(spec.shape)} "
            f"(a leading batch dimension is allowed)"
        )
    return _batch(x, spec)


@lru_cache(maxsize=2)
def _micro_speech(preprocessor: str | None):
    from cimsdk.frontend.micro_speech import MicroSpeechFrontend

    return MicroSpeechFrontend(preprocessor)


def audio_to_input(
    samples: np.ndarray, spec: InputSpec, preprocessor: str | Path | None = None
) -> np.ndarray:
    """int16 clips [n] or [batch, n] at 16 kHz to model inputs [batch, *item_shape]."""
    route = spec.audio_frontend
    if route == "mfcc":
        from cimsdk.frontend import mfcc

        if np.issubdtype(np.dtype(spec.dtype), np.integer):
            x = mfcc.quantize(mfcc.mfcc_float(samples), spec.scale, spec.zero_point, spec.dtype)
        else:
            x = mfcc.mfcc_float(samples).astype(spec.dtype)
        return _batch(x, spec)
    if route == "micro_speech":
        if spec.dtype != "int8":
            raise UserError(f"the micro_speech front end gives int8 features; this model wants {spec.dtype}")
        return _batch(_micro_speech(str(preprocessor) if preprocessor else None).features(samples), spec)
    raise UserError(
        f"no audio front end for a model input of shape {list(spec.shape)}: WAV input needs [1,49,10,1] "
        f"(MFCC) or [1,1960] (micro_speech); give a .npy file instead"
    )


def load_input(path: str | Path, spec: InputSpec, preprocessor: str | Path | None = None) -> np.ndarray:
    """A user's input file as model-ready data [N, *spec.item_shape] in the model's dtype."""
    from cimsdk.frontend.image import IMAGE_SUFFIXES, image_input

    path = Path(path)
    if not path.is_file():
        raise UserError(f"input file not found: {path}; give a .npy, .wav or image file")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _load_npy(path, spec)
    if suffix == ".wav":
        from cimsdk.frontend.wav import read_wav_16k

        if spec.audio_frontend is None:
            raise UserError(
                f"{path}: a WAV file needs an audio model (input [1,49,10,1] or [1,1960]); "
                f"this model's input is {list(spec.shape)}"
            )
        return audio_to_input(read_wav_16k(path), spec, preprocessor)
    if suffix in IMAGE_SUFFIXES:
        if spec.audio_frontend is not None:
            raise UserError(
                f"{path}: this model takes audio features (input {list(spec.shape)}), not a vision model's "
                f"image; give a .wav or .npy file"
            )
        if len(spec.item_shape) != 3:
            raise UserError(
                f"{path}: an image needs a vision model (input [1,H,W,C]); this model's input is {list(spec.shape)}"
            )
        return _batch(image_input(path, spec.item_shape, spec.scale, spec.zero_point, spec.dtype), spec)
    raise UserError(f"{path}: unknown input type '{suffix}'; use .npy, .wav, .bmp, .png or .jpg")
