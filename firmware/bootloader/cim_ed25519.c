/* Ed25519 signature verification (RFC 8032) with its SHA-512, written for the bootloader:
 * small, no heap, no tables beyond SHA-512's round constants (generated from the cube roots of
 * the first 80 primes). Field elements are 16 signed 64-bit limbs of 16 bits (radix 2^16), so
 * every product fits an int64 without carries inside a multiplication. The curve constants
 * (d, 2d, sqrt(-1), the base point) are computed at first use from their definitions instead of
 * being written out. Verification only handles public data, so nothing here is constant time.
 * Checked against the RFC 8032 test vectors by tests/test_flash_ed25519.py. */
#if defined(CIM_BOOTLOADER) || defined(CIM_BL_HOST)

#include <stdint.h>

#include "cim_bl.h"

/* ---- SHA-512 (FIPS 180-4) -------------------------------------------------------------------- */
static const uint64_t K[80] = {
    0x428a2f98d728ae22ull, 0x7137449123ef65cdull, 0xb5c0fbcfec4d3b2full, 0xe9b5dba58189dbbcull,
    0x3956c25bf348b538ull, 0x59f111f1b605d019ull, 0x923f82a4af194f9bull, 0xab1c5ed5da6d8118ull,
    0xd807aa98a3030242ull, 0x12835b0145706fbeull, 0x243185be4ee4b28cull, 0x550c7dc3d5ffb4e2ull,
    0x72be5d74f27b896full, 0x80deb1fe3b1696b1ull, 0x9bdc06a725c71235ull, 0xc19bf174cf692694ull,
    0xe49b69c19ef14ad2ull, 0xefbe4786384f25e3ull, 0x0fc19dc68b8cd5b5ull, 0x240ca1cc77ac9c65ull,
    0x2de92c6f592b0275ull, 0x4a7484aa6ea6e483ull, 0x5cb0a9dcbd41fbd4ull, 0x76f988da831153b5ull,
    0x983e5152ee66dfabull, 0xa831c66d2db43210ull, 0xb00327c898fb213full, 0xbf597fc7beef0ee4ull,
    0xc6e00bf33da88fc2ull, 0xd5a79147930aa725ull, 0x06ca6351e003826full, 0x142929670a0e6e70ull,
    0x27b70a8546d22ffcull, 0x2e1b21385c26c926ull, 0x4d2c6dfc5ac42aedull, 0x53380d139d95b3dfull,
    0x650a73548baf63deull, 0x766a0abb3c77b2a8ull, 0x81c2c92e47edaee6ull, 0x92722c851482353bull,
    0xa2bfe8a14cf10364ull, 0xa81a664bbc423001ull, 0xc24b8b70d0f89791ull, 0xc76c51a30654be30ull,
    0xd192e819d6ef5218ull, 0xd69906245565a910ull, 0xf40e35855771202aull, 0x106aa07032bbd1b8ull,
    0x19a4c116b8d2d0c8ull, 0x1e376c085141ab53ull, 0x2748774cdf8eeb99ull, 0x34b0bcb5e19b48a8ull,
    0x391c0cb3c5c95a63ull, 0x4ed8aa4ae3418acbull, 0x5b9cca4f7763e373ull, 0x682e6ff3d6b2b8a3ull,
    0x748f82ee5defb2fcull, 0x78a5636f43172f60ull, 0x84c87814a1f0ab72ull, 0x8cc702081a6439ecull,
    0x90befffa23631e28ull, 0xa4506cebde82bde9ull, 0xbef9a3f7b2c67915ull, 0xc67178f2e372532bull,
    0xca273eceea26619cull, 0xd186b8c721c0c207ull, 0xeada7dd6cde0eb1eull, 0xf57d4f7fee6ed178ull,
    0x06f067aa72176fbaull, 0x0a637dc5a2c898a6ull, 0x113f9804bef90daeull, 0x1b710b35131c471bull,
    0x28db77f523047d84ull, 0x32caab7b40c72493ull, 0x3c9ebe0a15c9bebcull, 0x431d67c49c100d4cull,
    0x4cc5d4becb3e42b6ull, 0x597f299cfc657e2aull, 0x5fcb6fab3ad6faecull, 0x6c44198c4a475817ull,
};
static const uint64_t H0[8] = {
    0x6a09e667f3bcc908ull, 0xbb67ae8584caa73bull, 0x3c6ef372fe94f82bull, 0xa54ff53a5f1d36f1ull,
    0x510e527fade682d1ull, 0x9b05688c2b3e6c1full, 0x1f83d9abfb41bd6bull, 0x5be0cd19137e2179ull,
};

typedef struct {
    uint64_t h[8];
    uint8_t block[128];
    uint32_t fill;
    uint64_t total;
} sha512_t;

static uint64_t ror64(uint64_t x, unsigned n) { return (x >> n) | (x << (64u - n)); }

static void sha512_block(sha512_t *s, const uint8_t *p) {
    uint64_t w[80];
    for (int i = 0; i < 16; i++) {
        uint64_t v = 0;
        for (int k = 0; k < 8; k++) v = (v << 8) | p[8 * i + k];
        w[i] = v;
    }
    for (int i = 16; i < 80; i++) {
        uint64_t s0 = ror64(w[i - 15], 1) ^ ror64(w[i - 15], 8) ^ (w[i - 15] >> 7);
        uint64_t s1 = ror64(w[i - 2], 19) ^ ror64(w[i - 2], 61) ^ (w[i - 2] >> 6);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint64_t a = s->h[0], b = s->h[1], c = s->h[2], d = s->h[3], e = s->h[4], f = s->h[5], g = s->h[6], h = s->h[7];
    for (int i = 0; i < 80; i++) {
        uint64_t t1 = h + (ror64(e, 14) ^ ror64(e, 18) ^ ror64(e, 41)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint64_t t2 = (ror64(a, 28) ^ ror64(a, 34) ^ ror64(a, 39)) + ((a & b) ^ (a & c) ^ (b & c));
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    s->h[0] += a; s->h[1] += b; s->h[2] += c; s->h[3] += d;
    s->h[4] += e; s->h[5] += f; s->h[6] += g; s->h[7] += h;
}

static void sha512_init(sha512_t *s) {
    for (int i = 0; i < 8; i++) s->h[i] = H0[i];
    s->fill = 0;
    s->total = 0;
}

static void sha512_update(sha512_t *s, const uint8_t *p, uint32_t n) {
    s->total += n;
    while (n--) {
        s->block[s->fill++] = *p++;
        if (s->fill == 128u) {
            sha512_block(s, s->block);
            s->fill = 0;
        }
    }
}

static void sha512_final(sha512_t *s, uint8_t out[64]) {
    uint64_t bits = s->total * 8u;
    uint8_t pad = 0x80;
    sha512_update(s, &pad, 1);
    pad = 0;
    while (s->fill != 112u) sha512_update(s, &pad, 1);
    uint8_t len[16] = {0};
    for (int i = 0; i < 8; i++) len[15 - i] = (uint8_t)(bits >> (8 * i));
    sha512_update(s, len, 16);
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 8; k++) out[8 * i + k] = (uint8_t)(s->h[i] >> (56 - 8 * k));
}

#ifdef CIM_BL_HOST
void cim_sha512(const uint8_t *p, uint32_t n, uint8_t out[64]);
void cim_sha512(const uint8_t *p, uint32_t n, uint8_t out[64]) {
    sha512_t s;
    sha512_init(&s);
    sha512_update(&s, p, n);
    sha512_final(&s, out);
}
#endif

/* ---- GF(2^255 - 19) -------------------------------------------------------------------------- */
typedef int64_t fe[16];

static void fe_copy(fe o, const fe a) {
    for (int i = 0; i < 16; i++) o[i] = a[i];
}

static void fe_small(fe o, int64_t v) {
    for (int i = 0; i < 16; i++) o[i] = 0;
    o[0] = v;
}

/* Bring every limb back to 16 bits; the carry out of the top limb wraps as 2^256 = 38. */
static void fe_carry(fe o) {
    for (int i = 0; i < 16; i++) {
        int64_t c = o[i] >> 16;
        o[i] -= c * 65536;
        if (i < 15) o[i + 1] += c;
        else o[0] += 38 * c;
    }
}

static void fe_add(fe o, const fe a, const fe b) {
    for (int i = 0; i < 16; i++) o[i] = a[i] + b[i];
}

static void fe_sub(fe o, const fe a, const fe b) {
    for (int i = 0; i < 16; i++) o[i] = a[i] - b[i];
}

static void fe_mul(fe o, const fe a, const fe b) {
    int64_t t[31];
    for (int i = 0; i < 31; i++) t[i] = 0;
    for (int i = 0; i < 16; i++)
        for (int j = 0; j < 16; j++) t[i + j] += a[i] * b[j];
    for (int i = 0; i < 15; i++) t[i] += 38 * t[i + 16];
    for (int i = 0; i < 16; i++) o[i] = t[i];
    fe_carry(o);
    fe_carry(o);
}

static void fe_sq(fe o, const fe a) { fe_mul(o, a, a); }

/* a^e for a little-endian 256-bit exponent (square and multiply, exponent is public). */
static void fe_pow(fe o, const fe a, const uint8_t e[32]) {
    fe r, base;
    fe_small(r, 1);
    fe_copy(base, a);
    for (int bit = 255; bit >= 0; bit--) {
        fe_sq(r, r);
        if ((e[bit >> 3] >> (bit & 7)) & 1) fe_mul(r, r, base);
    }
    fe_copy(o, r);
}

/* Exponents p - 2 (inverse), (p - 5) / 8 (square-root helper), (p - 1) / 4 (sqrt(-1) from 2). */
static void exp_const(uint8_t e[32], uint8_t low, uint8_t high) {
    e[0] = low;
    for (int i = 1; i < 31; i++) e[i] = 0xFF;
    e[31] = high;
}

static void fe_inv(fe o, const fe a) {
    uint8_t e[32];
    exp_const(e, 0xEB, 0x7F);
    fe_pow(o, a, e);
}

/* Canonical 32-byte encoding: fully reduce below p. */
static void fe_pack(uint8_t out[32], const fe a) {
    fe t, m;
    fe_copy(t, a);
    fe_carry(t);
    fe_carry(t);
    fe_carry(t);
    for (int round = 0; round < 2; round++) {
        m[0] = t[0] - 0xFFED;
        for (int i = 1; i < 15; i++) {
            m[i] = t[i] - 0xFFFF - ((m[i - 1] >> 16) & 1);
            m[i - 1] &= 0xFFFF;
        }
        m[15] = t[15] - 0x7FFF - ((m[14] >> 16) & 1);
        m[14] &= 0xFFFF;
        int borrow = (int)((m[15] >> 16) & 1);
        if (!borrow) fe_copy(t, m);
    }
    for (int i = 0; i < 16; i++) {
        out[2 * i] = (uint8_t)(t[i] & 0xFF);
        out[2 * i + 1] = (uint8_t)((t[i] >> 8) & 0xFF);
    }
}

static void fe_unpack(fe o, const uint8_t in[32]) {
    for (int i = 0; i < 16; i++) o[i] = (int64_t)in[2 * i] + ((int64_t)in[2 * i + 1] << 8);
    o[15] &= 0x7FFF;
}

static int fe_eq(const fe a, const fe b) {
    uint8_t x[32], y[32];
    fe_pack(x, a);
    fe_pack(y, b);
    uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= (uint8_t)(x[i] ^ y[i]);
    return d == 0;
}

static int fe_parity(const fe a) {
    uint8_t x[32];
    fe_pack(x, a);
    return x[0] & 1;
}

/* ---- the curve -x^2 + y^2 = 1 + d x^2 y^2, extended coordinates (X:Y:Z:T), x = X/Z, y = Y/Z, xy = T/Z */
typedef struct {
    fe x, y, z, t;
} point;

static fe c_d, c_d2, c_sqrtm1;
static point c_base;
static int c_ready;

static void pt_add(point *r, const point *p, const point *q) {
    fe a, b, c, d, e, f, g, h, t;
    fe_sub(a, p->y, p->x);
    fe_sub(t, q->y, q->x);
    fe_mul(a, a, t);
    fe_add(b, p->y, p->x);
    fe_add(t, q->y, q->x);
    fe_mul(b, b, t);
    fe_mul(c, p->t, q->t);
    fe_mul(c, c, c_d2);
    fe_mul(d, p->z, q->z);
    fe_add(d, d, d);
    fe_sub(e, b, a);
    fe_sub(f, d, c);
    fe_add(g, d, c);
    fe_add(h, b, a);
    fe_mul(r->x, e, f);
    fe_mul(r->y, h, g);
    fe_mul(r->z, g, f);
    fe_mul(r->t, e, h);
}

static void pt_zero(point *p) {
    fe_small(p->x, 0);
    fe_small(p->y, 1);
    fe_small(p->z, 1);
    fe_small(p->t, 0);
}

/* k * q for a little-endian 256-bit scalar. */
static void pt_mul(point *r, const point *q, const uint8_t k[32]) {
    point acc;
    pt_zero(&acc);
    for (int bit = 255; bit >= 0; bit--) {
        pt_add(&acc, &acc, &acc);
        if ((k[bit >> 3] >> (bit & 7)) & 1) pt_add(&acc, &acc, q);
    }
    *r = acc;
}

static void pt_pack(uint8_t out[32], const point *p) {
    fe zi, x, y;
    fe_inv(zi, p->z);
    fe_mul(x, p->x, zi);
    fe_mul(y, p->y, zi);
    fe_pack(out, y);
    out[31] ^= (uint8_t)(fe_parity(x) << 7);
}

/* Decode a point (RFC 8032 5.1.3): y from the bytes, x = sqrt((y^2 - 1) / (d y^2 + 1)). */
static int pt_unpack(point *p, const uint8_t in[32]) {
    fe u, v, v3, x, chk, one;
    uint8_t e[32];
    fe_small(one, 1);
    fe_unpack(p->y, in);
    fe_small(p->z, 1);
    fe_sq(u, p->y);
    fe_mul(v, u, c_d);
    fe_sub(u, u, one);
    fe_add(v, v, one);
    fe_sq(v3, v);
    fe_mul(v3, v3, v);          /* v^3 */
    fe_sq(x, v3);
    fe_mul(x, x, v);            /* v^7 */
    fe_mul(x, x, u);            /* u v^7 */
    exp_const(e, 0xFD, 0x0F);   /* (p - 5) / 8 */
    fe_pow(x, x, e);
    fe_mul(x, x, v3);
    fe_mul(x, x, u);            /* u v^3 (u v^7)^((p-5)/8) */
    fe_sq(chk, x);
    fe_mul(chk, chk, v);
    if (!fe_eq(chk, u)) {
        fe neg;
        fe_small(neg, 0);
        fe_sub(neg, neg, u);
        if (!fe_eq(chk, neg)) return -1;
        fe_mul(x, x, c_sqrtm1);
    }
    if (fe_parity(x) != (in[31] >> 7)) {
        fe zero;
        fe_small(zero, 0);
        fe_sub(x, zero, x);
    }
    fe_copy(p->x, x);
    fe_mul(p->t, p->x, p->y);
    return 0;
}

static void curve_init(void) {
    fe a, b;
    uint8_t e[32];
    fe_small(a, 121665);
    fe_small(b, 121666);
    fe_inv(b, b);
    fe_mul(c_d, a, b);
    fe_small(a, 0);
    fe_sub(c_d, a, c_d);        /* d = -121665 / 121666 */
    fe_add(c_d2, c_d, c_d);
    fe_small(a, 2);
    exp_const(e, 0xFB, 0x1F);   /* (p - 1) / 4 */
    fe_pow(c_sqrtm1, a, e);     /* 2 is a non-residue, so this is a square root of -1 */
    uint8_t enc[32];            /* base point: y = 4/5, x even */
    fe_small(a, 4);
    fe_small(b, 5);
    fe_inv(b, b);
    fe_mul(a, a, b);
    fe_pack(enc, a);
    (void)pt_unpack(&c_base, enc);
    c_ready = 1;
}

/* ---- scalars mod L = 2^252 + 27742317777372353535851937790883648493 ------------------------- */
static const uint32_t L_WORDS[8] = {0x5CF5D3EDu, 0x5812631Au, 0xA2F79CD6u, 0x14DEF9DEu,
                                    0x00000000u, 0x00000000u, 0x00000000u, 0x10000000u};

static int ge_l(const uint32_t r[8]) {
    for (int i = 7; i >= 0; i--) {
        if (r[i] != L_WORDS[i]) return r[i] > L_WORDS[i];
    }
    return 1;
}

static void sub_l(uint32_t r[8]) {
    uint64_t borrow = 0;
    for (int i = 0; i < 8; i++) {
        uint64_t d = (uint64_t)r[i] - L_WORDS[i] - borrow;
        r[i] = (uint32_t)d;
        borrow = (d >> 63) & 1u;
    }
}

/* 64-byte little-endian number mod L, by binary long division (512 shift-and-subtract steps). */
static void mod_l(uint8_t out[32], const uint8_t in[64]) {
    uint32_t r[8] = {0};
    for (int bit = 511; bit >= 0; bit--) {
        for (int i = 7; i > 0; i--) r[i] = (r[i] << 1) | (r[i - 1] >> 31);
        r[0] = (r[0] << 1) | ((uint32_t)(in[bit >> 3] >> (bit & 7)) & 1u);
        if (ge_l(r)) sub_l(r);
    }
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 4; k++) out[4 * i + k] = (uint8_t)(r[i] >> (8 * k));
}

int cim_ed25519_verify(const uint8_t sig[64], const uint8_t *msg, uint32_t n, const uint8_t pk[32]) {
    if (!c_ready) curve_init();
    uint32_t s_words[8];
    for (int i = 0; i < 8; i++)
        s_words[i] = (uint32_t)sig[32 + 4 * i] | ((uint32_t)sig[33 + 4 * i] << 8) |
                     ((uint32_t)sig[34 + 4 * i] << 16) | ((uint32_t)sig[35 + 4 * i] << 24);
    if (ge_l(s_words)) return 0; /* S must be below L (RFC 8032 5.1.7) */
    point a;
    if (pt_unpack(&a, pk) != 0) return 0;
    /* h = SHA-512(R | A | M) mod L */
    sha512_t s;
    uint8_t digest[64], h[32];
    sha512_init(&s);
    sha512_update(&s, sig, 32);
    sha512_update(&s, pk, 32);
    sha512_update(&s, msg, n);
    sha512_final(&s, digest);
    mod_l(h, digest);
    /* Check [S]B == R + [h]A, i.e. [S]B + [h](-A) encodes to R. */
    fe zero;
    fe_small(zero, 0);
    fe_sub(a.x, zero, a.x);
    fe_sub(a.t, zero, a.t);
    point sb, ha, sum;
    pt_mul(&sb, &c_base, sig + 32);
    pt_mul(&ha, &a, h);
    pt_add(&sum, &sb, &ha);
    uint8_t r[32];
    pt_pack(r, &sum);
    uint8_t d = 0;
    for (int i = 0; i < 32; i++) d |= (uint8_t)(r[i] ^ sig[i]);
    return d == 0;
}

#endif /* CIM_BOOTLOADER || CIM_BL_HOST */
