"""Where the shared ground truth lives (../shared beside the project root)."""

from cimsdk import project_root

ROOT = project_root()
SHARED = ROOT.parent / "shared"
MODELS = SHARED / "models"
DATA = SHARED / "data"
INT8_MODELS = ["kws_ref_model", "vww_96_int8", "micro_speech_quantized", "hello_world_int8"]
TARGETS = ["sram-dcim", "nor-acim"]
