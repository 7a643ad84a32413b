// Co-simulation host of the Verilated CiM coprocessor (built by cimsdk.fpga.verilate).
//
// It maps the file that backs the guest's RAM (as cimsdk.emulator.coprocessor does), clocks the RTL,
// serves the RTL's Wishbone bus master from that RAM, and bridges the mailbox window in RAM to the
// RTL's mailbox registers (its Wishbone slave): a new DOORBELL in RAM becomes COMMAND/ARG* writes
// and a DOORBELL write on the slave; when the RTL's ACCEPTED/DONE move, its STATUS, ERROR_DETAIL,
// RESULT*, COUNTERS and HEARTBEAT are copied back to RAM, DONE last. Sequence numbers are the guest's.
//
// Arguments as `python -m cimsdk.emulator.coprocessor`: --fd N | --path P, --ram-base, --ram-size,
// --window. Prints `ready` once MAGIC is in the window; exits on stdin EOF, SIGTERM or SIGINT.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "Vcim_coprocessor.h"
#include "verilated.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

struct Sim {
    Vcim_coprocessor *top;
    uint8_t *ram;
    uint64_t ram_base, ram_size;
    uint64_t cycles = 0, bus_reads = 0, bus_writes = 0;

    uint32_t ram32(uint64_t off) const {
        uint32_t v;
        memcpy(&v, ram + off, 4);
        return v;
    }
    void set_ram32(uint64_t off, uint32_t v) { memcpy(ram + off, &v, 4); }

    // One clock; then answer the bus master's request (acknowledged on the next edge).
    void tick() {
        top->clk = 0;
        top->eval();
        top->clk = 1;
        top->eval();
        cycles++;
        if (top->m_ack || top->m_err) {
            top->m_ack = 0;
            top->m_err = 0;
            return;
        }
        if (top->m_cyc && top->m_stb) {
            uint64_t a = top->m_adr;
            if (a < ram_base || a + 4 > ram_base + ram_size) {
                top->m_err = 1;
                return;
            }
            uint64_t off = a - ram_base;
            if (top->m_we) {
                for (int b = 0; b < 4; b++)
                    if (top->m_sel & (1u << b)) ram[off + b] = (uint8_t)(top->m_dat_w >> (8 * b));
                bus_writes++;
            } else {
                top->m_dat_r = ram32(off);
                bus_reads++;
            }
            top->m_ack = 1;
        }
    }

    uint32_t slave(uint32_t adr, bool we, uint32_t data = 0) {
        top->s_adr = adr;
        top->s_we = we;
        top->s_dat_w = data;
        top->s_sel = 0xf;
        top->s_cyc = 1;
        top->s_stb = 1;
        for (int i = 0; i < 16; i++) {
            tick();
            if (top->s_ack) break;
        }
        uint32_t v = top->s_dat_r;
        top->s_cyc = 0;
        top->s_stb = 0;
        top->s_we = 0;
        tick();
        return v;
    }
};

static uint64_t parse_num(const char *s) { return strtoull(s, nullptr, 0); }

int main(int argc, char **argv) {
    int fd = -1;
    const char *path = nullptr;
    uint64_t ram_base = 0x80000000ull, ram_size = 64ull << 20, window = 0x83FF0000ull;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&](const char *name) -> const char * {
            std::string pre = std::string(name) + "=";
            if (a.rfind(pre, 0) == 0) return argv[i] + pre.size();
            if (a == name && i + 1 < argc) return argv[++i];
            return nullptr;
        };
        const char *v;
        if ((v = val("--fd"))) fd = (int)parse_num(v);
        else if ((v = val("--path"))) path = v;
        else if ((v = val("--ram-base"))) ram_base = parse_num(v);
        else if ((v = val("--ram-size"))) ram_size = parse_num(v);
        else if ((v = val("--window"))) window = parse_num(v);
        else {
            fprintf(stderr, "cosim: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (fd < 0 && path) fd = open(path, O_RDWR);
    if (fd < 0) {
        fprintf(stderr, "cosim: give --fd N or --path FILE of the guest RAM\n");
        return 2;
    }
    void *m = mmap(nullptr, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) {
        perror("cosim: mmap");
        return 1;
    }
    if (window < ram_base || window + 0x10000 > ram_base + ram_size) {
        fprintf(stderr, "cosim: mailbox window 0x%llx outside guest RAM\n", (unsigned long long)window);
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);

    Verilated::commandArgs(1, argv);
    Sim sim{new Vcim_coprocessor, (uint8_t *)m, ram_base, ram_size};
    Vcim_coprocessor *top = sim.top;
    const uint64_t win = window - ram_base;
    enum : uint32_t {
        MAGIC = 0x00, VERSION = 0x04, DOORBELL = 0x08, ACCEPTED = 0x0C, DONE = 0x10, STATUS = 0x14,
        COMMAND = 0x18, ERROR_DETAIL = 0x1C, ARG0 = 0x20, RESULT0 = 0x40, HEARTBEAT = 0x60, COUNTERS = 0x80
    };
    top->rst = 1;
    for (int i = 0; i < 4; i++) sim.tick();
    top->rst = 0;
    sim.tick();

    // The RTL's own sequence numbers start at 0; the guest's are mapped onto them.
    uint32_t rtl_seq = sim.slave(DOORBELL, false);
    uint32_t guest_seen = sim.ram32(win + ACCEPTED);  // a doorbell rung before we attached is served
    uint32_t guest_seq = 0;
    bool busy = false, accepted = false;
    uint64_t cmd_start = 0;
    uint32_t cmd_code = 0;

    sim.set_ram32(win + VERSION, sim.slave(VERSION, false));
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    sim.set_ram32(win + MAGIC, sim.slave(MAGIC, false));
    printf("ready\n");
    fflush(stdout);

    auto last_cmd = std::chrono::steady_clock::now();
    uint64_t idle_polls = 0;
    while (!g_stop) {
        if (!busy) {
            uint32_t bell = __atomic_load_n((uint32_t *)(sim.ram + win + DOORBELL), __ATOMIC_ACQUIRE);
            if (bell != guest_seen) {
                __atomic_thread_fence(__ATOMIC_SEQ_CST);
                guest_seen = guest_seq = bell;
                cmd_code = sim.ram32(win + COMMAND);
                sim.slave(COMMAND, true, cmd_code);
                for (int i = 0; i < 8; i++) sim.slave(ARG0 + 4 * i, true, sim.ram32(win + ARG0 + 4 * i));
                sim.slave(DOORBELL, true, ++rtl_seq);
                busy = true;
                accepted = false;
                cmd_start = sim.cycles;
                continue;
            }
            // Idle: spin right after a command (layers come in bursts), then back off.
            idle_polls++;
            if ((idle_polls & 255) == 0) {
                sim.set_ram32(win + HEARTBEAT, sim.ram32(win + HEARTBEAT) + 1);
                struct pollfd p = {0, POLLIN, 0};
                if (poll(&p, 1, 0) > 0) {
                    char buf[256];
                    if (read(0, buf, sizeof buf) <= 0) break;  // the launcher went away
                }
            }
            double idle = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_cmd).count();
            if (idle > 1.0) std::this_thread::sleep_for(std::chrono::microseconds(1000));
            else if (idle > 0.005) std::this_thread::sleep_for(std::chrono::microseconds(200));
            continue;
        }
        for (int i = 0; i < 4096 && top->busy; i++) sim.tick();
        if (!accepted && sim.slave(ACCEPTED, false) == rtl_seq) {
            accepted = true;
            sim.set_ram32(win + ACCEPTED, guest_seq);
        }
        if (top->busy) continue;
        if (sim.slave(DONE, false) != rtl_seq) continue;
        if (!accepted) sim.set_ram32(win + ACCEPTED, guest_seq);
        for (int i = 0; i < 4; i++) sim.set_ram32(win + RESULT0 + 4 * i, sim.slave(RESULT0 + 4 * i, false));
        sim.set_ram32(win + ERROR_DETAIL, sim.slave(ERROR_DETAIL, false));
        sim.set_ram32(win + STATUS, sim.slave(STATUS, false));
        for (int i = 0; i < 32; i++) sim.set_ram32(win + COUNTERS + 4 * i, sim.slave(COUNTERS + 4 * i, false));
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        __atomic_store_n((uint32_t *)(sim.ram + win + DONE), guest_seq, __ATOMIC_RELEASE);  // last
        fprintf(stderr, "cosim: command %u seq %u status %u cycles %llu\n", cmd_code, guest_seq,
                sim.ram32(win + STATUS), (unsigned long long)(sim.cycles - cmd_start));
        busy = false;
        last_cmd = std::chrono::steady_clock::now();
        idle_polls = 0;
    }
    sim.set_ram32(win + MAGIC, 0);
    top->final();
    delete top;
    munmap(m, ram_size);
    return 0;
}
