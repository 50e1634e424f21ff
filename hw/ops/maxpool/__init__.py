"""exitflow's RTL max-pool: the RTL backend of FINN's Pool layer (FINN has it only in HLS).

Importing this package registers `Pool_rtl` in FINN's RTL domain with qonnx, so that getCustomOp
finds it; import it before loading a model that holds Pool_rtl nodes.

- op.Pool_rtl: the FINN HW op (python execution, estimates, generate_hdl);
- transforms.ConvertMaxPoolToExitflowRTL: Pool / Pool_hls (MaxPool) -> Pool_rtl, after folding;
- reference: the python reference behaviour; estimate: cycles and resources;
- exitflow_maxpool.sv (the core) and exitflow_maxpool_template.v (FINN-style wrapper).
"""

from __future__ import annotations

from qonnx.custom_op.registry import add_op_to_domain

from exitflow.hw.ops.maxpool.op import CORE_SV, DOMAIN, Pool_rtl
from exitflow.hw.ops.maxpool.transforms import ConvertMaxPoolToExitflowRTL, hls_maxpools

__all__ = ["CORE_SV", "ConvertMaxPoolToExitflowRTL", "Pool_rtl", "hls_maxpools"]

add_op_to_domain(DOMAIN, Pool_rtl)
