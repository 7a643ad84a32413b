/* Host build of the bootloader core over a simulated NOR flash (a 32 MiB file, mmap'ed):
 * the same cim_bl.c the board runs, for protocol tests, fuzzing and the benchmark.
 *   bl_host serve FLASH [--pubkey HEX] [--signed-only]   frames on stdin, replies on stdout
 *   bl_host check FLASH [--pubkey HEX] [--signed-only]   boot decision after a reset
 *   bl_host ed25519 PK_HEX SIG_HEX MSG_HEX                prints 1 (valid) or 0
 *   bl_host sha512 MSG_HEX                                prints the digest
 * The simulated flash behaves like NOR: programming only clears bits, erase sets a sector to 0xFF
 * (256 KiB for the emulated board; -DCIM_BL_HOST_BOARD -DBOARD_<NAME> builds another board's
 * geometry). Every erase/program is checked against the slots the bootloader must never
 * touch from a command (cim_bl_dbg_protected); a violation is reported on stderr and makes
 * `serve` exit with status 3. */
#if defined(CIM_BL_HOST)

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cim_bl.h"
#include "cim_protocol.h"

int cim_bl_dbg_protected(uint32_t off);
void cim_sha512(const uint8_t *p, uint32_t n, uint8_t out[64]);

#ifndef CIM_BL_HOST_BOARD_NAME
#define CIM_BL_HOST_BOARD_NAME "qemu-virt-rv32" /* the geometry cim_bl_layout.h gives a host build */
#endif

static uint8_t *flash;
static long violations, erases, programs;
static int in_dispatch;

static int sim_erase(uint32_t off) {
    if (off >= CIM_BL_FLASH_SIZE) return -1;
    if (in_dispatch && cim_bl_dbg_protected(off)) {
        fprintf(stderr, "VIOLATION erase at 0x%08x\n", off);
        violations++;
    }
    off &= ~(CIM_BL_SECTOR - 1u);
    memset(flash + off, 0xFF, CIM_BL_SECTOR);
    erases++;
    return 0;
}

static int sim_program(uint32_t off, const uint8_t *p, uint32_t n) {
    if ((off & 3u) || (n & 3u) || off >= CIM_BL_FLASH_SIZE || n > CIM_BL_FLASH_SIZE - off) return -1;
    if (in_dispatch && (cim_bl_dbg_protected(off) || cim_bl_dbg_protected(off + n - 1u))) {
        fprintf(stderr, "VIOLATION program at 0x%08x+%u\n", off, n);
        violations++;
    }
    for (uint32_t i = 0; i < n; i++) flash[off + i] &= p[i]; /* NOR: 1 -> 0 only */
    programs++;
    return 0;
}

static uint8_t outbuf[1 << 16];
static size_t outlen;

static void flush_out(void) {
    size_t done = 0;
    while (done < outlen) {
        ssize_t w = write(1, outbuf + done, outlen - done);
        if (w <= 0) exit(0);
        done += (size_t)w;
    }
    outlen = 0;
}

static void sim_putc(uint8_t b) {
    if (outlen == sizeof outbuf) flush_out();
    outbuf[outlen++] = b;
}

static int unhex(const char *s, uint8_t *out, size_t cap) {
    size_t n = strlen(s);
    if (n % 2 || n / 2 > cap) return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

static void open_flash(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT, 0644);
    if (fd < 0) {
        perror(path);
        exit(2);
    }
    off_t size = lseek(fd, 0, SEEK_END);
    if (size != (off_t)CIM_BL_FLASH_SIZE) {
        if (ftruncate(fd, 0) != 0 || ftruncate(fd, CIM_BL_FLASH_SIZE) != 0) exit(2);
        flash = mmap(0, CIM_BL_FLASH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (flash == MAP_FAILED) exit(2);
        memset(flash, 0xFF, CIM_BL_FLASH_SIZE);
    } else {
        flash = mmap(0, CIM_BL_FLASH_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (flash == MAP_FAILED) exit(2);
    }
}

static uint8_t rx_buf[CIM_MAX_FRAME];
static uint8_t pubkey[32];

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "ed25519") == 0 && argc == 5) {
        uint8_t pk[32], sig[64], *msg = malloc(strlen(argv[4]) / 2 + 1);
        int n;
        if (unhex(argv[2], pk, 32) != 32 || unhex(argv[3], sig, 64) != 64 ||
            (n = unhex(argv[4], msg, strlen(argv[4]) / 2 + 1)) < 0)
            return 2;
        printf("%d\n", cim_ed25519_verify(sig, msg, (uint32_t)n, pk));
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "sha512") == 0 && argc == 3) {
        uint8_t *msg = malloc(strlen(argv[2]) / 2 + 1), d[64];
        int n = unhex(argv[2], msg, strlen(argv[2]) / 2 + 1);
        if (n < 0) return 2;
        cim_sha512(msg, (uint32_t)n, d);
        for (int i = 0; i < 64; i++) printf("%02x", d[i]);
        printf("\n");
        return 0;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: bl_host serve|check FLASH [--pubkey HEX] [--signed-only]\n");
        return 2;
    }
    open_flash(argv[2]);
    cim_bl_cfg_t cfg = {
        .flash = flash, .erase = sim_erase, .program = sim_program, .putc = sim_putc,
        .board = CIM_BL_HOST_BOARD_NAME, .targets = "", .pubkey = 0, .signed_only = 0,
        .rx_buf = rx_buf, .rx_cap = sizeof rx_buf,
    };
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--pubkey") == 0 && i + 1 < argc) {
            if (unhex(argv[++i], pubkey, 32) != 32) return 2;
            cfg.pubkey = pubkey;
        } else if (strcmp(argv[i], "--signed-only") == 0) {
            cfg.signed_only = 1;
        } else if (strcmp(argv[i], "--targets") == 0 && i + 1 < argc) {
            cfg.targets = argv[++i];
        }
    }
    cim_bl_init(&cfg);
    if (strcmp(argv[1], "check") == 0) {
        int ok = cim_bl_boot_check();
        printf("bootable=%d\n", ok);
        return 0;
    }
    static uint8_t in[8192];
    for (;;) {
        ssize_t n = read(0, in, sizeof in);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            in_dispatch = 1;
            int act = cim_bl_feed(in[i]);
            in_dispatch = 0;
            if (act == CIM_BL_ACT_RESET || act == CIM_BL_ACT_BOOT) {
                flush_out();
                (void)cim_bl_boot_check(); /* a reboot: the boot decision runs, then the loader again */
                cim_bl_init(&cfg);
            }
        }
        flush_out();
    }
    fprintf(stderr, "erases=%ld programs=%ld violations=%ld\n", erases, programs, violations);
    return violations ? 3 : 0;
}

#endif /* CIM_BL_HOST */
