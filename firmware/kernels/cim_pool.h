/* The window walk TFLM's pooling kernels share (reference_integer_ops::AveragePool / MaxPool and the float
 * AveragePool): for every output position of every batch item, the taps [fy0, fy1) x [fx0, fx1) of its window
 * that fall inside the input, with `iy0`, `ix0` the window's top-left input position and `yo` pointing at the
 * position's `c` outputs (of type T). The kernel's locals nb, h, w, c, oh, ow, fh, fw, sh, sw, pt, pl and the
 * output pointer `y` are read by name; the body is the macro's last argument(s). */
#ifndef CIM_POOL_H
#define CIM_POOL_H

#define CIM_POOL_FOR_EACH_WINDOW(T, ...)                                       \
    for (int32_t b = 0; b < nb; ++b)                                           \
        for (int32_t oy = 0; oy < oh; ++oy) {                                  \
            const int32_t iy0 = oy * sh - pt;                                  \
            const int32_t fy0 = iy0 < 0 ? -iy0 : 0;                            \
            const int32_t fy1 = fh < h - iy0 ? fh : h - iy0;                   \
            for (int32_t ox = 0; ox < ow; ++ox) {                              \
                const int32_t ix0 = ox * sw - pl;                              \
                const int32_t fx0 = ix0 < 0 ? -ix0 : 0;                        \
                const int32_t fx1 = fw < w - ix0 ? fw : w - ix0;               \
                T *yo = y + (((b * oh + oy) * ow) + ox) * c;                   \
                __VA_ARGS__                                                    \
            }                                                                  \
        }

#endif /* CIM_POOL_H */
