"""Exit-decision units: from FINN primitives, or exitflow's own op (exitflow.hw.ops.exit_decision.op).

FINN-primitive units (`hw.decision_impl: finn`, max_logit and margin) are graphs of
MultiThreshold and MatMul that FINN maps to Thresholding and MVAU layers and builds like any other
partition. They output the fire bit; the class is the argmax of the head's logits, which leave
the head with the frame. Both rules are exact on the integer lattice, ties included:

- max_logit, S = max_c x_c >= T: fire = OR_c [x_c >= T]
  = Thresholding(x >= T) -> MVAU(ones, C -> 1) counting -> Thresholding(count >= 1).
- margin, S = top1 - top2 >= T (0 when the top is tied): fire iff some class c beats every other
  class by T: OR_c AND_{j != c} [x_c - x_j >= T]. For the argmax c, min_j (x_c - x_j) equals the
  margin; for any other c it is <= 0 <= margin, so the OR picks the margin exactly, for every T
  (T <= 0: the argmax satisfies it, and S >= 0 >= T fires too). Graph: MVAU with weights in
  {-1, 0, 1} giving the C (C - 1) differences -> Thresholding(>= T) -> MVAU counting per class ->
  Thresholding(count >= C - 1) -> MVAU(ones) -> Thresholding(>= 1). C = 1 has no pairs
  (S = 0): not supported here, use the rtl unit.

The own op (`hw.decision_impl: rtl`, default) streams the logits through a top-1/top-2 register
pair (hw/rtl/exit_decision.v): far fewer LUTs than FINN's MVAUs, and it also outputs the class and
carries patience/voting state.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import qonnx_make_model

from exitflow.core.kinds import DecisionImpl, PolicyKind
from exitflow.core.rules import RULES
from exitflow.hw.ops.exit_decision import op as decision_op

FINN_KINDS = tuple(k.value for k, r in RULES.items() if DecisionImpl.FINN in r.hw_impls)
# 0/1 values feeding an MVAU are typed UINT2: finn-plus 1.6.1's MVAU_hls code generation rejects
# UINT1 inputs ("True binary (non-bipolar) inputs not yet supported").
MVAU_IN = "UINT2"


def _clamp_threshold(t_int: int | None, lo: int, hi: int) -> int:
    """T on the statistic's range [lo, hi]: hi + 1 never fires, lo always does."""
    if t_int is None:
        return hi + 1
    return int(min(max(t_int, lo), hi + 1))


class _Graph:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self.types: dict[str, str] = {}

    def threshold(self, x: str, thresholds: np.ndarray, out: str, odt: str = "UINT1") -> None:
        name = f"{out}_thr"
        self.inits[name] = np.asarray(thresholds, np.float32)
        self.nodes.append(
            helper.make_node(
                "MultiThreshold",
                [x, name],
                [out],
                domain="qonnx.custom_op.general",
                out_dtype=odt,
                data_layout="NC",
            )
        )
        self.types[out] = odt

    def matmul(self, x: str, weights: np.ndarray, out: str, wtype: str) -> None:
        name = f"{out}_w"
        self.inits[name] = np.asarray(weights, np.float32)
        self.types[name] = wtype
        self.nodes.append(helper.make_node("MatMul", [x, name], [out]))


def finn_decision_model(
    kind: str, t_int: int | None, num_classes: int, logit_type: DataType
) -> ModelWrapper:
    """FINN-ONNX graph logits [1, C] -> fire [1, 1] for max_logit or margin (module docstring)."""
    c = num_classes
    if kind not in FINN_KINDS:
        raise ValueError(
            f"policy {kind!r} has no FINN-primitive decision unit (only {list(FINN_KINDS)}); "
            "set hw.decision_impl: rtl"
        )
    if c < 2:
        raise ValueError("a FINN-primitive decision unit needs >= 2 classes; use rtl")
    g = _Graph()
    if kind == PolicyKind.MAX_LOGIT:
        t = _clamp_threshold(t_int, int(logit_type.min()), int(logit_type.max()))
        g.threshold("logits", np.full((c, 1), t), "candidate", MVAU_IN)
        cands = c
    else:
        pairs = [(a, b) for a in range(c) for b in range(c) if a != b]
        diff = np.zeros((c, len(pairs)))
        count = np.zeros((len(pairs), c))
        for p, (a, b) in enumerate(pairs):
            diff[a, p], diff[b, p], count[p, a] = 1, -1, 1
        span = int(logit_type.max()) - int(logit_type.min())
        t = _clamp_threshold(t_int, -span, span)
        g.matmul("logits", diff, "diffs", "INT2")
        g.threshold("diffs", np.full((len(pairs), 1), t), "beats", MVAU_IN)
        g.matmul("beats", count, "wins", "UINT1")
        g.threshold("wins", np.full((c, 1), c - 1), "candidate", MVAU_IN)
        cands = c
    g.matmul("candidate", np.ones((cands, 1)), "candidates", "UINT1")
    g.threshold("candidates", np.ones((1, 1)), "fire")
    graph = helper.make_graph(
        g.nodes,
        f"decision_{kind}",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c])],
        [helper.make_tensor_value_info("fire", TensorProto.FLOAT, [1, 1])],
        initializer=[
            helper.make_tensor(k, TensorProto.FLOAT, v.shape, v.ravel()) for k, v in g.inits.items()
        ],
    )
    model = ModelWrapper(qonnx_make_model(graph, producer_name="exitflow"))
    model.set_tensor_datatype("logits", logit_type)
    for name, dtype in g.types.items():
        model.set_tensor_datatype(name, DataType[dtype])
    model.set_metadata_prop("exitflow_generated", f"decision/{kind}")
    model = model.transform(InferShapes())
    return model.transform(InferDataTypes())


def decision_model(
    impl: str | DecisionImpl,
    kind: str,
    t_int: int | None,
    num_classes: int,
    logit_type: DataType,
    num_exits: int,
) -> ModelWrapper:
    """The source model of one decision partition for `impl` ("finn" or "rtl")."""
    if DecisionImpl(impl) is DecisionImpl.FINN:
        return finn_decision_model(kind, t_int, num_classes, logit_type)
    if not logit_type.signed():
        logit_type = DataType[f"INT{logit_type.bitwidth() + 1}"]
    return decision_op.make_model(kind, t_int, num_classes, logit_type.bitwidth(), num_exits)
