"""AXI-Lite register access for the Verilator stream harness (exitflow.hw.tools.stream).

`axilite_code` generates the C++ that the harness runs after reset, before the stream (the
writes of axil_w.bin: address, value pairs) and after it (the reads of axil_r.bin, values to
axil_rd.bin): one transaction at a time, address and data channels independent, a hang reported
after `timeout_cycles`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["AxiLitePort", "axilite_code"]


@dataclass(frozen=True)
class AxiLitePort:
    """An AXI-Lite slave port `<prefix>_AWADDR ... _RREADY` (FINN's names), 32-bit data."""

    prefix: str = "s_axilite"
    addr_bits: int = 12
    timeout_cycles: int = 1000  # a transaction not answered within this is a hang

    def sig(self, name: str) -> str:
        """The signal `<prefix>_<name>`."""
        return f"{self.prefix}_{name}"


def axilite_code(port: AxiLitePort | None) -> tuple[str, str]:
    """C++ for the register writes before the stream and the reads after it (harness)."""
    if port is None:
        return "", ""
    g = port.sig
    t = port.timeout_cycles
    idle = (
        f"    top->{g('AWVALID')} = 0; top->{g('WVALID')} = 0; top->{g('BREADY')} = 0;\n"
        f"    top->{g('ARVALID')} = 0; top->{g('RREADY')} = 0;\n"
    )
    pre = (
        idle
        + f"""    {{
        std::vector<uint32_t> wr = read_limbs(dir + "/axil_w.bin");
        for (size_t k = 0; k + 1 < wr.size(); k += 2) {{
            bool aw = false, w = false, b = false;
            top->{g("AWADDR")} = wr[k]; top->{g("WDATA")} = wr[k + 1]; top->{g("WSTRB")} = 0xF;
            for (int c = 0; !b; ++c) {{
                if (c > {t}) {{ std::fprintf(stderr, "AXI-Lite write to 0x%x not answered\\n", wr[k]); return 3; }}
                top->{g("AWVALID")} = !aw; top->{g("WVALID")} = !w; top->{g("BREADY")} = 1;
                top->eval();
                const bool aw_hs = !aw && top->{g("AWREADY")}, w_hs = !w && top->{g("WREADY")};
                b = top->{g("BVALID")};
                tick();
                aw |= aw_hs; w |= w_hs;
            }}
            top->{g("AWVALID")} = 0; top->{g("WVALID")} = 0; top->{g("BREADY")} = 0;
            tick();
        }}
    }}
"""
    )
    post = f"""    {{
        std::vector<uint32_t> rd = read_limbs(dir + "/axil_r.bin"), val;
        for (size_t k = 0; k < rd.size(); ++k) {{
            bool ar = false, r = false;
            top->{g("ARADDR")} = rd[k];
            for (int c = 0; !r; ++c) {{
                if (c > {t}) {{ std::fprintf(stderr, "AXI-Lite read of 0x%x not answered\\n", rd[k]); return 3; }}
                top->{g("ARVALID")} = !ar; top->{g("RREADY")} = 1;
                top->eval();
                const bool ar_hs = !ar && top->{g("ARREADY")};
                r = top->{g("RVALID")};
                if (r) val.push_back(static_cast<uint32_t>(top->{g("RDATA")}));
                tick();
                ar |= ar_hs;
            }}
            top->{g("ARVALID")} = 0; top->{g("RREADY")} = 0;
            tick();
        }}
        FILE* f = std::fopen((dir + "/axil_rd.bin").c_str(), "wb");
        std::fwrite(val.data(), 4, val.size(), f);
        std::fclose(f);
    }}
"""
    return pre, post
