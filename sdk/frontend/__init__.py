"""Front ends: turn recordings and images into the quantized inputs models expect (numpy, no TensorFlow).

- `mfcc`: MLPerf Tiny KWS MFCC features (49 x 10);
- `micro_speech`: TFLM's audio preprocessor model run by the TFLM interpreter (49 x 40);
- `image`: Pillow resize / channel conversion / quantization;
- `wav`: WAV reading (PCM and float, any rate, resampled to 16 kHz) and writing.
"""
