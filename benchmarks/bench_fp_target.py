"""The floating-point target sram-fpcim on the shared float models (issue 19, item 3): top-1 agreement of the
golden model (the macro's BF16 arithmetic) with the float model (LiteRT reference kernels) on real and
synthetic inputs, the error per CiM layer (BF16 rounding alone, the macro, what the exponent alignment adds),
the macro energy from its published figure, and the same against the alignment group size (rows_active).

Run: python benchmarks/bench_fp_target.py [--per-word N] [--images N] [--groups 1,16,64,128]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from _common import MODELS, ROOT

from cimconv.pipeline import convert
from cimsdk.fp_compare import compare_float
from cimsdk.golden import Executor
from cimsdk.reference import LiteRTRef

DATA = MODELS.parent / "data"
KWS, VWW = MODELS / "kws_ref_model_float32.tflite", MODELS / "vww_96_float.tflite"


def kws_inputs(per_word: int) -> dict[str, np.ndarray]:
    from cimsdk.data import synth
    from cimsdk.frontend.mfcc import mfcc_float
    from cimsdk.frontend.wav import read_wav_16k

    real = [mfcc_float(read_wav_16k(DATA / f))[0] for f in ("yes_1000ms.wav", "no_1000ms.wav", "silence_1000ms.wav",
                                                              "noise_1000ms.wav")]
    out = {"real": np.stack(real)[..., None].astype(np.float32)}
    if shutil.which("espeak-ng"):
        clips = [synth.render(p).astype(np.float32) / 32768 for p in synth.plan_clips(per_word, 19)]
        out["espeak"] = mfcc_float(np.stack(clips))[..., None].astype(np.float32)
    return out


def vww_inputs(n: int) -> dict[str, np.ndarray]:
    from PIL import Image
    from skimage import data as skdata

    pics = [np.asarray(Image.open(DATA / f).convert("RGB").resize((96, 96), Image.BILINEAR))
            for f in ("person.bmp", "no_person.bmp")]
    pics += [np.asarray(Image.fromarray(getattr(skdata, k)()).convert("RGB").resize((96, 96), Image.BILINEAR))
             for k in ("astronaut", "camera", "coffee", "chelsea", "rocket")]
    rng = np.random.default_rng(23)
    syn = []
    for i in range(n):
        s = (6, 12, 24)[i % 3]
        img = np.kron(rng.uniform(0, 1, size=(s, s, 3)), np.ones((96 // s, 96 // s, 1)))
        syn.append(np.clip(img + rng.normal(0, 0.05, size=img.shape), 0, 1))
    return {"real": np.stack(pics).astype(np.float32) / 255.0, "synthetic": np.stack(syn).astype(np.float32)}


def agreement(model: Path, image: bytes, xs: np.ndarray) -> tuple[int, int, float]:
    ref = LiteRTRef(model)
    want = np.stack([ref.invoke(x[None]).reshape(-1) for x in xs])
    got = Executor(image).predict([xs])[0].reshape(len(xs), -1)
    return int((got.argmax(-1) == want.argmax(-1)).sum()), len(xs), float(np.abs(got - want).max())


def with_group(group: int, tmp: Path) -> str:
    text = (ROOT / "converter" / "targets" / "sram-fpcim.toml").read_text()
    path = tmp / f"sram-fpcim-g{group}.toml"
    path.write_text(text.replace("rows_active = 64 ", f"rows_active = {group} "))
    return str(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-word", type=int, default=10)
    ap.add_argument("--images", type=int, default=93)
    ap.add_argument("--groups", default="1,16,64,128")
    a = ap.parse_args()
    sets = {KWS: kws_inputs(a.per_word), VWW: vww_inputs(a.images)}
    with tempfile.TemporaryDirectory() as d:
        for model, inputs in sets.items():
            print(f"== {model.name}")
            conv = convert(model, "sram-fpcim")
            e = conv.report["totals"]["energy"]
            print(f"energy/inference: macro {e['cim_uj']:.3f} uJ ({conv.report['totals']['cim_macs']:,} MACs x 2/31.6 "
                  f"pJ), CPU {e['cpu_uj']:.3f} uJ, static {e['static_uj']:.3f} uJ, total {e['total_uj']:.3f} uJ; "
                  f"activation RAM {conv.report['totals']['activation_ram_bytes']:,} B")
            for name, xs in inputs.items():
                ok, n, err = agreement(model, conv.image_bytes, xs)
                print(f"  {name:9s} top-1 agreement {ok}/{n} = {100 * ok / n:.1f}%  max |output err| {err:.4f}")
            comp = compare_float(model, conv.image, inputs["real"][:4])
            cim = [r for r in comp.layers if r.macro_rel_rms is not None]
            print(f"  per CiM layer (mean over {len(cim)}, rel. RMS vs exact float64): BF16 alone "
                  f"{100 * np.mean([r.bf16_rel_rms for r in cim]):.3f}%, macro "
                  f"{100 * np.mean([r.macro_rel_rms for r in cim]):.3f}%, alignment adds "
                  f"{100 * np.mean([r.alignment_rel_rms for r in cim]):.3f}%; end-to-end output rel. RMS "
                  f"{100 * comp.layers[-1].rel_rms:.3f}%")
            for g in (int(v) for v in a.groups.split(",")):
                cg = convert(model, with_group(g, Path(d)))
                xs = np.concatenate(list(inputs.values()))
                ok, n, err = agreement(model, cg.image_bytes, xs)
                comp = compare_float(model, cg.image, inputs["real"][:4])
                cim = [r for r in comp.layers if r.macro_rel_rms is not None]
                print(f"  group {g:4d}: agreement {ok}/{n}, macro error {100 * np.mean([r.macro_rel_rms for r in cim]):.3f}%"
                      f" (alignment {100 * np.mean([r.alignment_rel_rms for r in cim]):.3f}%)")


if __name__ == "__main__":
    main()
