"""exitflow's cycle-level simulator of the gated early-exit dataflow (numpy only, no torch/finn)."""
