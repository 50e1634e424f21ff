"""ConvertMaxPoolToExitflowRTL: FINN's max-pool layers (Pool / Pool_hls) become Pool_rtl."""

from __future__ import annotations

import logging

from onnx import helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.registry import getCustomOp
from qonnx.transformation.base import Transformation

from exitflow.core.errors import ConfigError
from exitflow.hw.ops.maxpool.op import DOMAIN, Pool_rtl

__all__ = ["ConvertMaxPoolToExitflowRTL", "hls_maxpools"]

log = logging.getLogger(__name__)

_SOURCES = {"Pool": "finn.custom_op.fpgadataflow", "Pool_hls": "finn.custom_op.fpgadataflow.hls"}
# state of an earlier HLS code generation: Pool_rtl generates its own
_DROP = {"code_gen_dir_ipgen", "ipgen_path", "ip_path", "preferred_impl_style", "gen_top_module"}


def _is_maxpool(node) -> bool:
    return (
        _SOURCES.get(node.op_type) == node.domain
        and getCustomOp(node).get_nodeattr("Function") == "MaxPool"
    )


def hls_maxpools(model: ModelWrapper) -> list[str]:
    """Names of the max-pool layers of `model` that are (or would become) FINN's Pool_hls."""
    return [n.name for n in model.graph.node if _is_maxpool(n)]


class ConvertMaxPoolToExitflowRTL(Transformation):
    """Replace every max-pool Pool / Pool_hls node by Pool_rtl, keeping its attributes.

    Run it after folding (SetFolding knows Pool_hls, not Pool_rtl: it sets the Pool's PE and the
    SIMD of the depthwise SWG that feeds it together). Raises ConfigError when that SWG's SIMD
    differs from the Pool's PE: the stream order would be wrong (a hand-set folding override on
    one of the two does that).
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        modified = False
        for idx, node in enumerate(list(graph.node)):
            if not _is_maxpool(node):
                continue
            old = getCustomOp(node)
            pe = int(old.get_nodeattr("PE"))
            swg = model.find_producer(node.input[0])
            if swg is not None and swg.op_type.startswith("ConvolutionInputGenerator"):
                simd = int(getCustomOp(swg).get_nodeattr("SIMD"))
                if simd != pe:
                    raise ConfigError(
                        f"{node.name}: PE={pe} but its window generator {swg.name} has "
                        f"SIMD={simd}; a max-pool's PE and its SWG's SIMD must be equal. Set "
                        f"both to the same divisor of {old.get_nodeattr('Channels')} in "
                        "hw.folding_overrides, or drop the override and let folding choose"
                    )
            new = helper.make_node(
                "Pool_rtl", list(node.input), list(node.output), domain=DOMAIN, name=node.name
            )
            known = Pool_rtl(new).get_nodeattr_types()
            new.attribute.extend(
                a for a in node.attribute if a.name in known and a.name not in _DROP
            )
            graph.node.remove(node)
            graph.node.insert(idx, new)
            log.info("%s: max-pool as exitflow Pool_rtl (PE=%d)", node.name, pe)
            modified = True
        return model, modified
