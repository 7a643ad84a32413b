"""Integer LSTM models of our own, written with TensorFlow's flatbuffer schema (its object API).

TensorFlow's converter makes the fused UNIDIRECTIONAL_SEQUENCE_LSTM from a Keras LSTM in float, but its int8
calibration of that op crashes the process (a segmentation fault with the installed TensorFlow, batch 1 or
not; an unfixed-shape model does not convert at all), so these models are assembled as TFLM's own LSTM test
models are: int8 input sequence [1, time, features], one or two LSTM layers with random int8 weights, int8
hidden state and int16 cell state (scale 2^-11 covering +-16 as in TFLM's micro_speech LSTM, or finer;
TFLite variable tensors), int8 output sequence. Scales put the gates'
pre-activations at a standard deviation of about two (sigmoid and tanh neither flat nor saturated) and
the cell near +-2 to 4, so every part of the arithmetic is exercised. TFLM runs them as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from svdf_models import _Builder

HIDDEN_SCALE = 1.0 / 128  # hidden values in (-1, 1)
CODE_SD = 74.0  # standard deviation of uniform random int8 codes


@dataclass
class LstmLayer:
    units: int
    cell_clip: float = 0.0
    cell_power: int = -11  # cell state scale 2^cell_power (TFLM's tanh of the cell takes another path below -12)
    projection: int = 0  # projection units: TFLM's integer LSTM refuses a projection (used to show it)


class _LstmBuilder(_Builder):
    def lstm(self, x: int, x_scale: float, x_sd: float, n_in: int, steps: int, layer: LstmLayer, i: int
             ) -> tuple[int, float]:
        s = self.s
        n = layer.units
        h_zp = int(self.rng.integers(-4, 5))
        ins = [-1] * 24
        ins[0] = x
        for g, gate in enumerate("ifco"):
            # input and recurrent products each contribute a standard deviation near 1.4 to the gate
            wx_scale = float(1.4 / (x_scale * x_sd * CODE_SD * np.sqrt(n_in)))
            wh_scale = float(1.4 / (HIDDEN_SCALE * 60 * CODE_SD * np.sqrt(n)))
            ins[1 + g] = self.tensor(f"lstm{i}/w_{gate}", (n, n_in), "int8", wx_scale, 0, self.weights((n, n_in)))
            ins[5 + g] = self.tensor(f"lstm{i}/r_{gate}", (n, n), "int8", wh_scale, 0, self.weights((n, n)))
            b_scale = x_scale * wx_scale
            shift = 1.0 if gate == "f" else 0.0  # Keras' unit forget bias
            bias = np.round((shift + self.rng.normal(0, 0.5, size=n)) / b_scale).astype(np.int32)
            ins[12 + g] = self.tensor(f"lstm{i}/b_{gate}", (n,), "int32", b_scale, 0, bias)
        width = layer.projection or n
        if layer.projection:
            p_scale = float(1.0 / (HIDDEN_SCALE * 60 * CODE_SD * np.sqrt(n)))
            ins[16] = self.tensor(f"lstm{i}/proj", (width, n), "int8", p_scale, 0, self.weights((width, n)))
        ins[18] = self.tensor(f"lstm{i}/hidden", (1, width), "int8", HIDDEN_SCALE, h_zp, variable=True)
        ins[19] = self.tensor(f"lstm{i}/cell", (1, n), "int16", 2.0**layer.cell_power, 0, variable=True)
        y = self.tensor(f"lstm{i}/out", (1, steps, width), "int8", HIDDEN_SCALE, h_zp)
        o = s.UnidirectionalSequenceLSTMOptionsT()
        o.fusedActivationFunction = s.ActivationFunctionType.TANH
        o.cellClip = layer.cell_clip
        o.projClip = 0.0
        o.timeMajor = False
        self.op(s.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM, ins, [y],
                s.BuiltinOptions.UnidirectionalSequenceLSTMOptions, o)
        return y, HIDDEN_SCALE


def lstm_model(n_input: int, steps: int, layers: list[LstmLayer], seed: int = 0) -> bytes:
    """int8 sequence [1, steps, n_input] -> LSTM (-> LSTM ...) -> int8 sequence of the last layer's hidden states."""
    b = _LstmBuilder(seed)
    x_scale = 0.05
    x = b.tensor("input", (1, steps, n_input), "int8", x_scale, int(b.rng.integers(-5, 6)))
    inp, n_in, x_sd = x, n_input, 1.0
    for i, layer in enumerate(layers):
        x, x_scale = b.lstm(x, x_scale, x_sd, n_in, steps, layer, i)
        n_in, x_sd = layer.projection or layer.units, 60 / CODE_SD  # hidden codes spread about +-60
    return b.finish(inp, x)
