// exitflow stream harness for Verilator (generated from hw/tools/harness/stream_main.cpp).
// Drives the AXI-stream inputs of V${top} from binary files of uint32 limbs, with seeded random
// gaps on inputs and random back-pressure on outputs, and records every handshake's cycle.
// Usage: sim RUNDIR BACKPRESSURE GAP SEED MAX_IDLE MAX_CYCLES DRAIN EXPECTED...
// Files in RUNDIR: in_<i>.bin (inputs), ctl.bin (control words), out_<j>.bin (records:
// uint64 cycle + limbs), acc_<i>.bin (uint64 accept cycles), status.txt; optional at_<i>.bin
// (uint64 earliest cycle of each input word: arrival schedules), axil_w.bin (uint32 address,
// value pairs written over AXI-Lite after reset, before the stream), axil_r.bin (uint32
// addresses read after the stream; values to axil_rd.bin).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "V${top}.h"
#include "verilated.h"

template <class T>
static inline void set_word(T& sig, const uint32_t* w, int n) {
    uint64_t v = w[0];
    if (n > 1) v |= static_cast<uint64_t>(w[1]) << 32;
    sig = static_cast<T>(v);
}
template <std::size_t N>
static inline void set_word(VlWide<N>& sig, const uint32_t* w, int n) {
    for (std::size_t i = 0; i < N; ++i) sig[i] = static_cast<int>(i) < n ? w[i] : 0;
}
template <class T>
static inline void get_word(const T& sig, uint32_t* w, int n) {
    const uint64_t v = static_cast<uint64_t>(sig);
    w[0] = static_cast<uint32_t>(v);
    if (n > 1) w[1] = static_cast<uint32_t>(v >> 32);
}
template <std::size_t N>
static inline void get_word(const VlWide<N>& sig, uint32_t* w, int n) {
    for (int i = 0; i < n; ++i) w[i] = sig[i];
}

struct InPort {
    int limbs;
    std::vector<uint32_t> data;
    size_t n = 0, next = 0;
    bool valid = false;
    std::vector<uint64_t> accepted;
    std::vector<uint64_t> at;  // earliest cycle of each word (empty: no schedule)
};
struct OutPort {
    int limbs;
    long expected;
    bool ready = false;
    std::vector<uint32_t> words;
    std::vector<uint64_t> cycles;
};

static std::vector<uint64_t> read_u64(const std::string& path) {
    std::vector<uint64_t> v;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return v;
    uint64_t buf[1024];
    size_t got;
    while ((got = std::fread(buf, 8, 1024, f)) > 0) v.insert(v.end(), buf, buf + got);
    std::fclose(f);
    return v;
}

static std::vector<uint32_t> read_limbs(const std::string& path) {
    std::vector<uint32_t> v;
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return v;
    uint32_t buf[4096];
    size_t got;
    while ((got = std::fread(buf, 4, 4096, f)) > 0) v.insert(v.end(), buf, buf + got);
    std::fclose(f);
    return v;
}

int main(int argc, char** argv) {
    if (argc < 8) {
        std::fprintf(stderr, "usage: %s RUNDIR BP GAP SEED MAX_IDLE MAX_CYCLES DRAIN EXP...\n", argv[0]);
        return 2;
    }
    const std::string dir = argv[1];
    const double bp = std::atof(argv[2]), gap = std::atof(argv[3]);
    std::mt19937_64 rng(std::strtoull(argv[4], nullptr, 10));
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    const uint64_t max_idle = std::strtoull(argv[5], nullptr, 10);
    const uint64_t max_cycles = std::strtoull(argv[6], nullptr, 10);
    const uint64_t drain = std::strtoull(argv[7], nullptr, 10);

    VerilatedContext* ctx = new VerilatedContext;
    ctx->commandArgs(1, argv);  // no plusargs for the model
    V${top}* top = new V${top}{ctx};

    InPort in[${n_in} + 1];
    OutPort out[${n_out} + 1];
${setup}
    if (argc < 8 + ${n_out}) { std::fprintf(stderr, "missing expected counts\n"); return 2; }
    for (int j = 0; j < ${n_out}; ++j) out[j].expected = std::atol(argv[8 + j]);
    std::vector<uint32_t> ctl = read_limbs(dir + "/ctl.bin");
    (void)ctl;
${controls}

    // reset: ${reset_cycles} cycles with every valid and ready low
    top->${clock} = 0;
    top->${reset} = ${reset_assert};
${idle_drive}
    for (int i = 0; i < ${reset_cycles}; ++i) {
        top->eval(); top->${clock} = 1; top->eval(); top->${clock} = 0;
    }
    top->${reset} = ${reset_release};
    top->eval();
    auto tick = [&]() { top->eval(); top->${clock} = 1; top->eval(); top->${clock} = 0; };
    (void)tick;
${axil_pre}

    uint64_t cycle = 0, idle = 0, drained = 0;
    const char* status = "done";
    uint32_t wbuf[${max_limbs}];
    (void)wbuf;
    while (true) {
        bool inputs_done = true, outputs_done = true;
        for (int i = 0; i < ${n_in}; ++i) inputs_done &= in[i].next >= in[i].n;
        for (int j = 0; j < ${n_out}; ++j)
            outputs_done &= out[j].expected >= 0 && static_cast<long>(out[j].cycles.size()) >= out[j].expected;
        bool any_unknown = false;
        for (int j = 0; j < ${n_out}; ++j) any_unknown |= out[j].expected < 0;
        if (inputs_done && (outputs_done || (any_unknown && idle >= max_idle))) {
            if (any_unknown || drained >= drain) break;
            ++drained;
        } else if (idle >= max_idle) { status = "deadlock"; break; }
        if (cycle >= max_cycles) { status = "max_cycles"; break; }

        // drive (clock low): inputs hold their word until accepted (AXI-stream rule)
        for (int i = 0; i < ${n_in}; ++i)
            if (!in[i].valid && in[i].next < in[i].n && (gap <= 0.0 || unif(rng) >= gap) &&
                (in[i].at.empty() || in[i].at[in[i].next] <= cycle)) in[i].valid = true;
        for (int j = 0; j < ${n_out}; ++j) out[j].ready = bp <= 0.0 || unif(rng) >= bp;
${drive}
        top->eval();
        // sample the handshakes that the coming rising edge completes
        bool moved = false;
${sample}
        top->${clock} = 1; top->eval(); top->${clock} = 0;
        ++cycle;
        idle = moved ? 0 : idle + 1;
    }

${idle_drive}
    top->eval();
${axil_post}
    for (int i = 0; i < ${n_in}; ++i) {
        FILE* f = std::fopen((dir + "/acc_" + std::to_string(i) + ".bin").c_str(), "wb");
        std::fwrite(in[i].accepted.data(), 8, in[i].accepted.size(), f);
        std::fclose(f);
    }
    for (int j = 0; j < ${n_out}; ++j) {
        FILE* f = std::fopen((dir + "/out_" + std::to_string(j) + ".bin").c_str(), "wb");
        for (size_t k = 0; k < out[j].cycles.size(); ++k) {
            std::fwrite(&out[j].cycles[k], 8, 1, f);
            std::fwrite(&out[j].words[k * out[j].limbs], 4, out[j].limbs, f);
        }
        std::fclose(f);
    }
    FILE* f = std::fopen((dir + "/status.txt").c_str(), "w");
    std::fprintf(f, "%s %llu\n", status, static_cast<unsigned long long>(cycle));
    std::fclose(f);
    top->final();
    delete top;
    delete ctx;
    return 0;
}
