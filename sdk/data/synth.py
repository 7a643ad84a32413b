"""A labelled keyword data set made on this machine with espeak-ng, for the 12 MLPerf Tiny KWS labels.

Why synthetic: the Speech Commands set is not available offline, yet accuracy needs >= 1,000 labelled
clips. Each clip is one espeak-ng utterance (voice variant, speed, pitch drawn from ranges the KWS reference
model recognises), trimmed, placed at a random time in a 1 s window, mixed with background noise at a set
SNR, and written as 16 kHz mono int16 WAV. "unknown" clips say other short words (the auxiliary words of
Speech Commands, which is what the model learnt as Unknown); "silence" clips are stationary low-level noise.

Everything random comes from the seed: a plan of per-clip parameters is drawn first, and each clip's noise
uses its own generator seeded by (seed, label, index), so the result does not depend on worker scheduling.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cimconv.errors import UserError
from cimsdk.frontend.mfcc import KWS_LABELS
from cimsdk.frontend.wav import parse_wav, resample, write_wav_bytes

SAMPLE_RATE = 16000
CLIP_SAMPLES = 16000
LABELS = tuple(name.lower() for name in KWS_LABELS)  # folder names, in the model's output order
KEYWORDS = LABELS[:10]

# What espeak-ng is asked to say for each keyword (espeak phoneme input in [[ ]]). Tuned against the MLPerf
# KWS reference model, which learnt human speech: espeak-ng's "stop" ([[st'0p]]) was heard as Unknown in
# ~60% of clips, while the unaspirated /t/ after /s/ that speakers actually produce ([[sd'0p]], "sdop")
# is recognised in ~90%; a monophthong "no" ([[n'o:]]) and an exclaimed "go!" are likewise recognised
# more often than espeak-ng's default diphthongs.
KEYWORD_TEXTS: dict[str, tuple[str, ...]] = {
    "down": ("down",),
    "go": ("go", "go!"),
    "left": ("left",),
    "no": ("no", "[[n'o:]]"),
    "off": ("off",),
    "on": ("on",),
    "right": ("right",),
    "stop": ("[[sd'0p]]", "[[sd'0pp]]", "[[sd'Vp]]"),
    "up": ("up",),
    "yes": ("yes",),
}
# The auxiliary words of Speech Commands v2 (the model's "unknown" training words) and a few more.
UNKNOWN_WORDS = (
    "bed", "bird", "cat", "dog", "eight", "five", "four", "happy", "house", "marvin", "nine", "one",
    "seven", "sheila", "six", "three", "tree", "two", "wow", "zero", "backward", "forward", "follow",
    "learn", "visual", "table", "water", "hello", "green", "music",
)  # fmt: skip
# espeak-ng voice variants kept because the KWS reference model recognises their keywords well.
VOICES = (
    "en-us+f3", "en+m7", "en+john", "en+f3", "en+m3", "en+klatt2", "en", "en+paul", "en+f5", "en+f2",
    "en+Annie", "en-us+paul", "en-us+croak", "en+max", "en+m6", "en-us",
)  # fmt: skip
SPEED_RANGE = (140, 190)  # words per minute
PITCH_RANGE = (30, 70)  # espeak-ng 0..99
SNRS_DB = (40.0, 30.0, 20.0)  # background noise under speech, relative to the speech RMS
NOISE_KINDS = ("white", "pink")
SILENCE_LEVELS_DBFS = (-70.0, -60.0, -50.0, -40.0)  # RMS of a silence clip
SHIFT_SPREAD = 0.6  # fraction of the free room around a word used for random time shifts


@dataclass(frozen=True)
class ClipPlan:
    """Everything needed to make one clip again."""

    label: str
    index: int
    text: str
    voice: str
    speed: int
    pitch: int
    position: float  # 0 = word at the start of the window, 1 = at the end
    noise: str
    snr_db: float
    level_dbfs: float
    seed: int

    @property
    def filename(self) -> str:
        return f"{self.label}/{self.label}_{self.index:05d}.wav"


def plan_clips(per_word: int, seed: int) -> list[ClipPlan]:
    """Draw the parameters of `per_word` clips for each of the 12 labels, deterministically from `seed`."""
    rng = np.random.default_rng(seed)
    plans = []
    for li, label in enumerate(LABELS):
        for i in range(per_word):
            if label in KEYWORD_TEXTS:
                text = str(rng.choice(KEYWORD_TEXTS[label]))
            elif label == "unknown":
                text = str(rng.choice(UNKNOWN_WORDS))
            else:
                text = ""
            plans.append(
                ClipPlan(
                    label=label,
                    index=i,
                    text=text,
                    voice=str(rng.choice(VOICES)),
                    speed=int(rng.integers(SPEED_RANGE[0], SPEED_RANGE[1] + 1)),
                    pitch=int(rng.integers(PITCH_RANGE[0], PITCH_RANGE[1] + 1)),
                    position=float(np.clip(0.5 + SHIFT_SPREAD * (rng.random() - 0.5), 0.0, 1.0)),
                    noise=str(rng.choice(NOISE_KINDS)),
                    snr_db=float(rng.choice(SNRS_DB)),
                    level_dbfs=float(rng.choice(SILENCE_LEVELS_DBFS))
                    if label == "silence"
                    else -6.0 - 6 * rng.random(),
                    seed=int(rng.integers(0, 2**31 - 1)) ^ (li << 20) ^ i,
                )
            )
    return plans


def espeak_binary() -> str:
    """Path of espeak-ng, or a UserError telling how to install it."""
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise UserError(
            "espeak-ng not found; install it (Debian: apt-get install espeak-ng) to synthesise clips"
        )
    return exe


def speak(text: str, voice: str, speed: int, pitch: int, exe: str | None = None) -> np.ndarray:
    """espeak-ng saying `text`, as float32 samples at 16 kHz."""
    cmd = [exe or espeak_binary(), "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text]
    proc = subprocess.run(cmd, capture_output=True, check=False, timeout=30)
    if proc.returncode != 0 or not proc.stdout:
        raise UserError(
            f"espeak-ng failed for voice {voice!r} text {text!r}: {proc.stderr.decode(errors='replace').strip()}"
        )
    x, rate = parse_wav(proc.stdout, "espeak-ng output")
    return resample(x, rate, SAMPLE_RATE)


def trim(x: np.ndarray, threshold: float = 0.02) -> np.ndarray:
    """Cut leading/trailing samples quieter than `threshold` x peak (espeak-ng pads with silence)."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    if peak == 0.0:
        return x[:0]
    idx = np.nonzero(np.abs(x) > threshold * peak)[0]
    return x[idx[0] : idx[-1] + 1]


def noise(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS stationary noise: white, or pink (1/f power) shaped in the frequency domain."""
    w = rng.standard_normal(n)
    if kind == "pink":
        spec = np.fft.rfft(w)
        f = np.arange(len(spec), dtype=np.float64)
        f[0] = 1.0
        w = np.fft.irfft(spec / np.sqrt(f), n)
    elif kind != "white":
        raise ValueError(f"unknown noise kind {kind!r}")
    return (w / np.sqrt(np.mean(w**2))).astype(np.float32)


def render(plan: ClipPlan, exe: str | None = None) -> np.ndarray:
    """The clip `plan` describes, as 16000 int16 samples."""
    rng = np.random.default_rng(plan.seed)
    if plan.label == "silence":
        x = noise(plan.noise, CLIP_SAMPLES, rng) * np.float32(10 ** (plan.level_dbfs / 20))
    else:
        word = trim(speak(plan.text, plan.voice, plan.speed, plan.pitch, exe))[:CLIP_SAMPLES]
        fade = min(80, len(word) // 4)
        if fade:
            ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
            word[:fade] *= ramp
            word[-fade:] *= ramp[::-1]
        x = np.zeros(CLIP_SAMPLES, dtype=np.float32)
        start = int(round((CLIP_SAMPLES - len(word)) * plan.position))
        x[start : start + len(word)] = word
        rms = float(np.sqrt(np.mean(word.astype(np.float64) ** 2))) or 1.0
        x += noise(plan.noise, CLIP_SAMPLES, rng) * np.float32(rms * 10 ** (-plan.snr_db / 20))
        x *= np.float32(10 ** (plan.level_dbfs / 20) / max(float(np.max(np.abs(x))), 1e-9))
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def generate(
    out_dir: str | Path, per_word: int, seed: int = 0, workers: int = 2, progress: bool = True
) -> dict:
    """Write `per_word` clips per label under out_dir/<label>/, plus labels.txt and manifest.json."""
    from cimconv import atomic

    if per_word < 1:
        raise UserError(f"--per-word must be at least 1 (got {per_word})")
    exe = espeak_binary()
    plans = plan_clips(per_word, seed)
    with atomic.output_dir(out_dir) as tmp:
        for label in LABELS:
            (tmp / label).mkdir()

        def work(plan: ClipPlan) -> ClipPlan:
            (tmp / plan.filename).write_bytes(write_wav_bytes(render(plan, exe), SAMPLE_RATE))
            return plan

        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results = pool.map(work, plans)
            if progress:
                from rich.console import Console
                from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

                with Progress(
                    "[progress.description]{task.description}",
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),
                ) as bar:
                    task = bar.add_task("synthesising clips", total=len(plans))
                    for _ in results:
                        bar.advance(task)
            else:
                for _ in results:
                    pass
        (tmp / "labels.txt").write_text("\n".join(LABELS) + "\n")
        manifest = {
            "generator": "cimsdk data kws-synth",
            "seed": seed,
            "per_word": per_word,
            "sample_rate": SAMPLE_RATE,
            "labels": list(LABELS),
            "clips": [{"file": p.filename, **asdict(p)} for p in plans],
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return {"out": str(out_dir), "clips": len(plans), "labels": list(LABELS), "seed": seed}
