"""exitflow's training side: datasets, brevitas multi-exit CNNs, QAT, exit policies, export.

Importing `quant` itself stays light (no torch): `quant.policies`, `quant.schema` and
`quant.files` are numpy/stdlib only and are shared with `sim`.
"""
