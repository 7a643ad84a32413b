"""`cimsdk demo`: the whole pipeline on the emulated board in one command, with an HTML report.

`runner` orchestrates (convert, host golden model, firmware build, emulated board, on-device runs),
`energy` prices the device's counters, `charts` draws the macro utilization, `report` writes
index.html, and `power` is the hook for the power trace (issue 5).
"""

from cimsdk.demo.runner import DemoOptions, DemoResult, RecordingResult, run_demo, shared_dir

__all__ = ["DemoOptions", "DemoResult", "RecordingResult", "run_demo", "shared_dir"]
