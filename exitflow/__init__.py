"""exitflow: FPGA/accelerator co-design of early-exit CNNs (brevitas -> FINN -> simulator)."""

__version__ = "0.1.0"
