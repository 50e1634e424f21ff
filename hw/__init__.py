"""exitflow's hardware side: per-stage FINN (finn-plus) builds, exit-decision units, estimates."""
