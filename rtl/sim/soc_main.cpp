// Simulation host of the whole iCEBreaker system (rtl/sim/soc_tb.v around rtl/soc/icebreaker_cim.v),
// built by cimsdk.fpga.verilate; started by cimsdk.fpga.soc_sim.
//
// It clocks the system at one step per clock, models the board's SPI flash chip on the flash pins,
// and bridges the UART pins to a TCP socket, bit by bit at the divider the firmware programmed into
// the UART, so a host talks to the simulated board as to the emulated one (socket://HOST:PORT).
//
// The flash model answers what a flash controller sends (rtl/soc/cim_flash.v: READ 0x03; PicoSoC's
// spimemio, which the system used before, also the others): READ (0x03, single line), DUAL I/O READ
// (0xBB) and QUAD I/O READ (0xEB, mode byte then 4 dummy clocks, as a W25Q128JV), both with the
// continuous-read mode (mode bits 5:4 = 10: the next transaction starts at the address); anything
// else (0xFF, 0xAB at start-up) is accepted and ignored. Reads only: writes are not modelled.
//
// Arguments:
//   --load OFFSET:FILE   put FILE into the flash at byte OFFSET (repeatable; the rest reads 0xFF)
//   --port N             TCP port of the UART (0: any free port); --host ADDR (default 127.0.0.1)
//   --no-wait            start clocking at once (default: wait for the first client, so no output is lost)
//   --max-cycles N       stop after N clocks (0: never)
//   --trace N            every N clocks, print the PC, the UART divider and the byte and flash counts
// Prints `uart HOST:PORT` and then `ready` on stdout; exits on SIGTERM, SIGINT, EOF on stdin when
// stdin is a pipe (the launcher's), or when the CPU traps (status 3: PicoRV32 halts on a trap; the PC is printed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>
#include <vector>

#include "Vsoc_tb.h"
#include "verilated.h"

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int) { g_stop = 1; }

static uint64_t parse_num(const char *s) { return strtoull(s, nullptr, 0); }

// ---- SPI flash chip ----------------------------------------------------------------------------
struct Flash {
    static constexpr uint32_t SIZE = 16u << 20;
    std::vector<uint8_t> mem = std::vector<uint8_t>(SIZE, 0xFF);

    enum State { IDLE, CMD, ADDR, MODE, DUMMY, DATA, IGNORE };
    State state = IDLE;
    bool cont = false;             // continuous-read mode: the next transaction starts at the address
    int io_width = 1;              // lines per clock in the address/mode/data phases of this command
    int has_mode = 0, dummy = 0;   // mode byte present, dummy clocks
    uint32_t shift = 0;
    int bits = 0, clocks = 0;
    uint32_t addr = 0;
    int data_bit = 0;              // bits of the current byte already driven
    uint8_t out = 0, oe = 0;       // what the chip drives on io3..io0
    int last_clk = 0, last_csb = 1;
    uint64_t transactions = 0;

    void start_command(uint8_t cmd) {
        has_mode = 0;
        dummy = 0;
        switch (cmd) {
        case 0x03: io_width = 1; break;
        case 0xBB: io_width = 2; has_mode = 1; break;
        case 0xEB: io_width = 4; has_mode = 1; dummy = 4; break;
        default: state = IGNORE; return;
        }
        state = ADDR;
        shift = 0;
        bits = 0;
    }

    void after_address() {
        if (has_mode) {
            state = MODE;
            shift = 0;
            bits = 0;
        } else {
            enter_dummy();
        }
    }

    void enter_dummy() {
        clocks = 0;
        if (dummy) state = DUMMY;
        else enter_data();
    }

    void enter_data() {
        state = DATA;
        data_bit = 0;
    }

    uint32_t sample(uint8_t io, int width) const {
        if (width == 1) return io & 1u;
        if (width == 2) return io & 3u;
        return io & 15u;
    }

    // Called after every clock edge of the system with the pins as they are now.
    void step(int csb, int clk, uint8_t io) {
        if (csb) {
            if (!last_csb) {  // end of a transaction
                state = IDLE;
                oe = 0;
            }
            last_csb = 1;
            last_clk = clk;
            return;
        }
        if (last_csb) {  // start of a transaction
            transactions++;
            last_csb = 0;
            oe = 0;
            shift = 0;
            bits = 0;
            if (cont) {
                state = ADDR;  // io_width, has_mode, dummy stay those of the command that set the mode
            } else {
                state = CMD;
            }
        }
        if (clk && !last_clk) rising(io);
        else if (!clk && last_clk) falling();
        last_clk = clk;
    }

    void rising(uint8_t io) {
        switch (state) {
        case CMD:
            shift = (shift << 1) | (io & 1u);
            if (++bits == 8) start_command((uint8_t)shift);
            break;
        case ADDR:
            shift = (shift << io_width) | sample(io, io_width);
            bits += io_width;
            if (bits >= 24) {
                addr = shift & (SIZE - 1);
                after_address();
            }
            break;
        case MODE:
            shift = (shift << io_width) | sample(io, io_width);
            bits += io_width;
            if (bits >= 8) {
                cont = ((shift & 0x30u) == 0x20u);
                enter_dummy();
            }
            break;
        case DUMMY:
            if (++clocks >= dummy) enter_data();
            break;
        default:
            break;  // DATA: the controller samples what the chip drove on the falling edge
        }
    }

    void falling() {
        if (state != DATA) {
            oe = 0;
            return;
        }
        uint8_t byte = mem[addr];
        if (io_width == 1) {
            oe = 0x2;  // MISO is io1
            out = (uint8_t)(((byte >> (7 - data_bit)) & 1u) << 1);
        } else {
            oe = io_width == 2 ? 0x3 : 0xF;
            out = (uint8_t)((byte >> (8 - io_width - data_bit)) & ((1u << io_width) - 1u));
        }
        data_bit += io_width;
        if (data_bit >= 8) {
            data_bit = 0;
            addr = (addr + 1) & (SIZE - 1);
        }
    }
};

// ---- UART <-> TCP ----------------------------------------------------------------------------
// The UART's bit (rtl/soc/cim_uart.v, as simpleuart's) lasts divider + 2 clocks.
struct Uart {
    // transmit side of the board (ser_tx): decoded here
    int tx_state = 0;          // 0 idle, 1 receiving bits
    uint64_t tx_next = 0;      // cycle of the next sample
    int tx_bit = 0;
    uint8_t tx_byte = 0;
    std::string to_host;
    // receive side of the board (ser_rx): driven here
    std::deque<uint8_t> from_host;
    int rx_level = 1;
    uint64_t rx_until = 0;     // cycle the current bit ends
    int rx_bit = -1;           // -1 idle, 0 start, 1..8 data, 9 stop
    uint8_t rx_byte = 0;
    uint64_t bytes_in = 0, bytes_out = 0, overruns = 0;

    void step(uint64_t now, int ser_tx, uint32_t divider, int rx_full) {
        uint64_t div = (uint64_t)divider + 2u;
        if (div < 4) div = 4;
        if (tx_state == 0) {
            if (!ser_tx) {
                tx_state = 1;
                tx_bit = 0;
                tx_byte = 0;
                tx_next = now + div + div / 2;  // middle of data bit 0
            }
        } else if (now >= tx_next) {
            if (tx_bit < 8) {
                tx_byte |= (uint8_t)((ser_tx & 1) << tx_bit);
                tx_bit++;
                tx_next += div;
            } else {  // middle of the stop bit
                to_host.push_back((char)tx_byte);
                bytes_out++;
                tx_state = 0;
            }
        }
        if (now >= rx_until) {
            if (rx_bit < 0 || rx_bit >= 9) {
                rx_bit = -1;
                rx_level = 1;
                if (!from_host.empty()) {
                    rx_byte = from_host.front();
                    from_host.pop_front();
                    bytes_in++;
                    rx_bit = 0;
                    rx_level = 0;
                    rx_until = now + div;
                }
            } else {
                rx_bit++;
                rx_level = rx_bit <= 8 ? ((rx_byte >> (rx_bit - 1)) & 1) : 1;
                // The UART stores this byte in the middle of the stop bit, over the previous one if the
                // firmware has not read that yet: an overrun, as on the board.
                if (rx_bit == 9 && rx_full) overruns++;
                rx_until = now + div;
            }
        }
    }
};

struct Net {
    int listen_fd = -1, client = -1;

    bool open_server(const char *host, int port, int *bound) {
        listen_fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons((uint16_t)port);
        if (inet_pton(AF_INET, host, &a.sin_addr) != 1) return false;
        if (bind(listen_fd, (sockaddr *)&a, sizeof a) != 0 || listen(listen_fd, 1) != 0) return false;
        socklen_t n = sizeof a;
        getsockname(listen_fd, (sockaddr *)&a, &n);
        *bound = ntohs(a.sin_port);
        fcntl(listen_fd, F_SETFL, O_NONBLOCK);
        return true;
    }

    bool accept_client(int timeout_ms) {
        pollfd p{listen_fd, POLLIN, 0};
        if (poll(&p, 1, timeout_ms) <= 0) return false;
        int c = accept(listen_fd, nullptr, nullptr);
        if (c < 0) return false;
        if (client >= 0) close(client);
        client = c;
        fcntl(client, F_SETFL, O_NONBLOCK);
        int one = 1;
        setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        return true;
    }

    // Exchange bytes with the client (non-blocking); a new client replaces an old one.
    void service(Uart &u) {
        accept_client(0);
        if (client < 0) {
            u.to_host.clear();  // nobody listens: the bytes are gone, as on a real line
            return;
        }
        uint8_t buf[4096];
        ssize_t n = recv(client, buf, sizeof buf, 0);
        if (n > 0) {
            u.from_host.insert(u.from_host.end(), buf, buf + n);
        } else if (n == 0) {
            close(client);
            client = -1;
            return;
        }
        while (!u.to_host.empty()) {
            ssize_t w = send(client, u.to_host.data(), u.to_host.size(), MSG_NOSIGNAL);
            if (w <= 0) break;
            u.to_host.erase(0, (size_t)w);
        }
    }
};

static bool stdin_is_pipe() {
    struct stat st;
    return fstat(0, &st) == 0 && S_ISFIFO(st.st_mode);
}

// The launcher's pipe closed (it died or let go); stdin from a terminal or /dev/null is not watched.
static bool stdin_closed() {
    static bool pipe_in = stdin_is_pipe();
    if (!pipe_in) return false;
    pollfd p{0, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0) return false;
    char c;
    return read(0, &c, 1) <= 0;
}

int main(int argc, char **argv) {
    Verilated::commandArgs(1, argv);
    Flash flash;
    const char *host = "127.0.0.1";
    int port = 0;
    bool wait_client = true;
    uint64_t max_cycles = 0, trace = 0;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        auto val = [&](const char *name) -> const char * {
            if (a == name && i + 1 < argc) return argv[++i];
            return nullptr;
        };
        const char *v;
        if ((v = val("--load"))) {
            const char *colon = strchr(v, ':');
            if (!colon) {
                fprintf(stderr, "soc: --load wants OFFSET:FILE, got %s\n", v);
                return 2;
            }
            uint64_t off = parse_num(std::string(v, colon).c_str());
            FILE *f = fopen(colon + 1, "rb");
            if (!f) {
                fprintf(stderr, "soc: cannot open %s\n", colon + 1);
                return 2;
            }
            size_t n = 0;
            int c;
            while ((c = fgetc(f)) != EOF) {
                if (off + n >= Flash::SIZE) {
                    fprintf(stderr, "soc: %s does not fit the 16 MiB flash at 0x%llx\n", colon + 1,
                            (unsigned long long)off);
                    fclose(f);
                    return 2;
                }
                flash.mem[off + n++] = (uint8_t)c;
            }
            fclose(f);
        } else if ((v = val("--port"))) port = (int)parse_num(v);
        else if ((v = val("--host"))) host = v;
        else if ((v = val("--max-cycles"))) max_cycles = parse_num(v);
        else if ((v = val("--trace"))) trace = parse_num(v);
        else if (a == "--no-wait") wait_client = false;
        else {
            fprintf(stderr, "soc: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    Net net;
    int bound = 0;
    if (!net.open_server(host, port, &bound)) {
        fprintf(stderr, "soc: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 2;
    }
    printf("uart %s:%d\nready\n", host, bound);
    fflush(stdout);
    if (wait_client) {
        while (!g_stop && !net.accept_client(100)) {
            if (stdin_closed()) return 0;
        }
    }

    Vsoc_tb *top = new Vsoc_tb;
    Uart uart;
    top->clk = 0;
    top->ser_rx = 1;
    top->flash_io_oe = 0;
    top->flash_io_out = 0;
    top->eval();
    uint64_t cycle = 0;
    int status = 0;
    while (!g_stop) {
        top->clk = 1;
        top->eval();
        flash.step(top->flash_csb, top->flash_clk, top->flash_io_in);
        top->clk = 0;
        top->flash_io_oe = flash.oe;
        top->flash_io_out = flash.out;
        uart.step(cycle, top->ser_tx, top->uart_divider, top->uart_rx_full);
        top->ser_rx = uart.rx_level;
        top->eval();
        cycle++;
        if ((cycle & 1023u) == 0) {
            if (top->cpu_trap) {
                fprintf(stderr, "soc: the CPU trapped at pc 0x%08x after %llu cycles (PicoRV32 halts on a trap)\n",
                        top->cpu_pc, (unsigned long long)cycle);
                status = 3;
                break;
            }
            net.service(uart);
            if ((cycle & 0xFFFFu) == 0 && stdin_closed()) break;
            if (max_cycles && cycle >= max_cycles) break;
            if (trace && cycle % trace < 1024u)
                fprintf(stderr, "soc: cycle %llu pc 0x%08x uart divider %u, %llu bytes in, %llu out, %llu flash transactions\n",
                        (unsigned long long)cycle, top->cpu_pc, top->uart_divider, (unsigned long long)uart.bytes_in,
                        (unsigned long long)uart.bytes_out, (unsigned long long)flash.transactions);
        }
    }
    net.service(uart);
    fprintf(stderr, "soc: %llu cycles, uart %llu bytes in (%llu overrun), %llu out, %llu flash transactions\n",
            (unsigned long long)cycle, (unsigned long long)uart.bytes_in, (unsigned long long)uart.overruns,
            (unsigned long long)uart.bytes_out, (unsigned long long)flash.transactions);
    top->final();
    delete top;
    return status;
}
