// Unit-test host of cim_array (or cim_array_serial): stdin carries records of P_ROWS input bytes then
// P_PAR * P_ROWS weight bytes (column-major); for each the host clears the accumulators, clocks the
// 8 / P_IB input slices (the serial array: 64 (slice, plane) steps, most significant first), and
// writes the P_PAR column sums (int32, little-endian) to stdout.
#include <cstdint>
#include <cstdio>
#include <cstring>

#if __has_include("Vcim_array_serial.h")
#include "Vcim_array_serial.h"
typedef Vcim_array_serial Top;
#define SERIAL 1
#else
#include "Vcim_array.h"
typedef Vcim_array Top;
#define SERIAL 0
#endif
#include "verilated.h"

// Verilated ports are VlWide word arrays above 64 bits, plain integers below.
template <std::size_t N> static void put(VlWide<N> &port, const uint8_t *bytes, int n) {
    for (std::size_t i = 0; i < N; i++) port[i] = 0;
    for (int i = 0; i < n; i++) port[i / 4] |= (uint32_t)bytes[i] << (8 * (i % 4));
}
template <typename T> static void put(T &port, const uint8_t *bytes, int n) {
    uint64_t v = 0;
    memcpy(&v, bytes, n);
    port = (T)v;
}
template <std::size_t N> static void get(const VlWide<N> &port, int32_t *out, int n) {
    for (int i = 0; i < n; i++) out[i] = (int32_t)port[i];
}
template <typename T> static void get(const T &port, int32_t *out, int n) {
    uint64_t v = port;
    memcpy(out, &v, 4 * n);
}

int main(int argc, char **argv) {
    Verilated::commandArgs(argc, argv);
    Top top;
    auto tick = [&] { top.clk = 0; top.eval(); top.clk = 1; top.eval(); };
    static uint8_t x[P_ROWS], w[P_PAR * P_ROWS];
    while (fread(x, 1, sizeof x, stdin) == sizeof x && fread(w, 1, sizeof w, stdin) == sizeof w) {
        put(top.x, x, P_ROWS);
        put(top.w, w, P_PAR * P_ROWS);
        top.clear = 1; top.step = 0;
        tick();
        top.clear = 0;
#if SERIAL
        for (int k = 0; k < 64; k++) {
            top.step = 1; top.slice = 7 - k / 8; top.plane = 7 - k % 8;
            tick();
        }
#else
        for (int s = 0; s < 8 / P_IB; s++) {
            top.step = 1; top.slice = s;
            tick();
        }
#endif
        top.step = 0;
        tick();
        int32_t out[P_PAR];
        get(top.sums, out, P_PAR);
        fwrite(out, sizeof out, 1, stdout);
    }
    top.final();
    return 0;
}
