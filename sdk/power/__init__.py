"""Power profiling: meter backends, sample traces, inference-window analysis and plots.

Flow: a `Meter` (``cimsdk.power.meters``) captures a `Trace` while an `InferenceDriver`
(``cimsdk.power.session``) runs marked inferences on the device; `analysis.analyse` aligns
the inference windows with the markers and computes the figures; `plot.plot_trace` draws them.
"""

from cimsdk.power.trace import Trace

__all__ = ["Trace"]
