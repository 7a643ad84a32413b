"""Quantize a user's float model (`cimsdk quantize`, `cimsdk convert FLOAT --calib`): load calibration data
for it, quantize (cimconv.quantize), and measure where accuracy goes (float, int8, CiM)."""
