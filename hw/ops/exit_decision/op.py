"""ExitDecision: exitflow's own HW op for an exit-decision unit (qonnx custom op, domain hw.decision_op).

Behaviour: `quant.policies` itself (`decide` + `exit_prediction`), so python-mode execution is
the reference by construction. Hardware: hw/ops/exit_decision/ for max_logit and margin (one
logit per beat, class 0 first; a running top-1/top-2 register pair; one {class, fire} word after
the last class). Cycles per frame = C (initiation interval), latency C + 1.

Resource estimates of max_logit/margin units are hw.rtl_blocks.decision_unit (fitted to yosys
synth_xilinx of that RTL). patience and voting carry a state with the frame (patience: previous
class and run length; voting: one vote counter per class); their estimates add that state logic
to the max_logit unit analytically: no RTL exists for them yet.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.custom_op.base import CustomOp
from qonnx.util.basic import qonnx_make_model

from exitflow.core import policies
from exitflow.core.kinds import DecisionImpl, PolicyKind
from exitflow.core.rules import RULES, rule
from exitflow.hw.ops import estimates as rtl_blocks

DOMAIN = "exitflow.hw.ops.exit_decision.op"
# Kinds with RTL (exit_decision.sv's POLICY code), and all kinds this op decides.
RTL_KINDS = tuple(k.value for k, r in RULES.items() if r.rtl_code is not None)
KINDS = tuple(k.value for k, r in RULES.items() if DecisionImpl.RTL in r.hw_impls)
STATE_KINDS = tuple(k for k in KINDS if rule(k).state_width(2) > 0)
NEVER = "never"  # threshold attribute value: the exit never fires


def class_bits(num_classes: int) -> int:
    """Bits of a class index."""
    return max(1, math.ceil(math.log2(max(2, num_classes))))


def count_bits(num_exits: int) -> int:
    """Bits of a run length / vote count that can reach num_exits."""
    return max(1, math.ceil(math.log2(num_exits + 1)))


def state_width(kind: str, num_classes: int, num_exits: int) -> int:
    """Integers carried with the frame between decision units."""
    return rule(kind).state_width(num_classes)


def estimate(kind: str, num_classes: int, logit_bits: int, num_exits: int) -> dict[str, int]:
    """LUT/FF/BRAM/DSP/URAM of one decision unit (see the module docstring for the model)."""
    base = rtl_blocks.decision_unit(
        kind if kind in RTL_KINDS else "max_logit", num_classes, logit_bits
    )
    res = base.resources()
    extra = _STATE_LOGIC.get(PolicyKind(kind))
    if extra is not None:
        lut, ff = extra(num_classes, class_bits(num_classes), count_bits(num_exits))
        res["LUT"] += lut
        res["FF"] += ff
    return res


# (LUT, FF) of the state logic a stateful kind adds to the max_logit unit, from
# (classes, class bits, count bits): analytical until those kinds have RTL.
_STATE_LOGIC = {
    # previous-class equality, run counter and its compare
    PolicyKind.PATIENCE: lambda c, cw, rb: (2 * cw + 3 * rb, cw + rb),
    # one counter per class, increment decode, streamed max of votes
    PolicyKind.VOTING: lambda c, cw, rb: (c * rb + 3 * rb + 2 * cw, c * rb + rb),
}


class ExitDecision(CustomOp):
    """Integer exit decision on one exit's logits: outputs fire (0/1), class, and the new state."""

    def get_nodeattr_types(self):
        return {
            "kind": ("s", True, ""),
            "threshold": ("s", True, ""),  # integer T as text, or "never"
            "num_classes": ("i", True, 0),
            "logit_bits": ("i", True, 0),  # signed two's complement width of a logit
            "num_exits": ("i", False, 2),
        }

    def threshold_value(self) -> float:
        """The threshold as quant.policies takes it (+inf: never fires)."""
        t = self.get_nodeattr("threshold")
        return math.inf if t == NEVER else float(int(t))

    def make_shape_compatible_op(self, model):
        return helper.make_node("Identity", [self.onnx_node.input[0]], [self.onnx_node.output[0]])

    def infer_node_datatype(self, model):
        node = self.onnx_node
        model.set_tensor_datatype(node.output[0], DataType["UINT1"])
        model.set_tensor_datatype(
            node.output[1], DataType[f"UINT{class_bits(self.get_nodeattr('num_classes'))}"]
        )

    def execute_node(self, context, graph):
        node = self.onnx_node
        kind = self.get_nodeattr("kind")
        logits = np.asarray(context[node.input[0]]).reshape(1, -1)
        if not np.array_equal(logits, np.round(logits)):
            raise ValueError(f"{node.name}: logits must be integers")
        x = logits.astype(np.int64)
        r = rule(kind)
        state = None
        if len(node.input) > 1:
            s = np.asarray(context[node.input[1]]).astype(np.int64).reshape(1, -1)
            state = r.state_from_array(s)
        fire, new_state = policies.decide(kind, x, self.threshold_value(), state)
        cls = policies.exit_prediction(kind, x, new_state)
        context[node.output[0]] = fire.astype(np.float32).reshape(1, 1)
        context[node.output[1]] = cls.astype(np.float32).reshape(1, 1)
        out = r.state_to_array(new_state)
        if out is not None:
            context[node.output[2]] = out.astype(np.float32).reshape(1, -1)

    def verify_node(self):
        kind = self.get_nodeattr("kind")
        return [] if kind in KINDS else [f"ExitDecision: unsupported kind {kind!r}"]

    def get_exp_cycles(self) -> int:
        """Initiation interval: one logit per beat."""
        return int(self.get_nodeattr("num_classes"))

    def latency_cycles(self) -> int:
        """First logit in to decision out: C beats plus the output register."""
        return int(self.get_nodeattr("num_classes")) + 1

    def resources(self) -> dict[str, int]:
        return estimate(
            self.get_nodeattr("kind"),
            self.get_nodeattr("num_classes"),
            self.get_nodeattr("logit_bits"),
            self.get_nodeattr("num_exits"),
        )


custom_op = {"ExitDecision": ExitDecision}


def make_model(
    kind: str, t_int: int | None, num_classes: int, logit_bits: int, num_exits: int
) -> ModelWrapper:
    """A one-node model: logits [1, C] (+ state) -> fire, class (+ state)."""
    if kind not in KINDS:
        raise ValueError(
            f"policy {kind!r} has no exit-decision unit in hardware; use one of {list(KINDS)}"
        )
    if logit_bits > 30:
        raise ValueError(
            f"logits of {logit_bits} bits exceed exit_decision.v's 32-bit threshold arithmetic; "
            "use fewer weight bits or features in the exit head"
        )
    c, s = num_classes, state_width(kind, num_classes, num_exits)
    inputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, c])]
    outputs = [
        helper.make_tensor_value_info("fire", TensorProto.FLOAT, [1, 1]),
        helper.make_tensor_value_info("class", TensorProto.FLOAT, [1, 1]),
    ]
    if s:
        inputs.append(helper.make_tensor_value_info("state_in", TensorProto.FLOAT, [1, s]))
        outputs.append(helper.make_tensor_value_info("state_out", TensorProto.FLOAT, [1, s]))
    node = helper.make_node(
        "ExitDecision",
        [i.name for i in inputs],
        [o.name for o in outputs],
        domain=DOMAIN,
        name="ExitDecision_0",
        kind=kind,
        threshold=NEVER if t_int is None else str(int(t_int)),
        num_classes=c,
        logit_bits=logit_bits,
        num_exits=num_exits,
    )
    graph = helper.make_graph([node], f"decision_{kind}", inputs, outputs)
    model = ModelWrapper(qonnx_make_model(graph, producer_name="exitflow"))
    model.set_tensor_datatype("logits", DataType[f"INT{logit_bits}"])
    model.set_tensor_datatype("fire", DataType["UINT1"])
    model.set_tensor_datatype("class", DataType[f"UINT{class_bits(c)}"])
    return model


def is_custom_decision(model: ModelWrapper) -> bool:
    """True for a model made by make_model (FINN's steps leave it alone)."""
    return any(n.domain == DOMAIN for n in model.graph.node)


def decision_inst(model: ModelWrapper) -> ExitDecision:
    """The ExitDecision node of a make_model model."""
    node = next(n for n in model.graph.node if n.domain == DOMAIN)
    return ExitDecision(node)


def write_wrapper(model: ModelWrapper, out_dir: Path, name: str) -> ModelWrapper:
    """Verilog instance of exit_decision.sv (hw/ops) with this unit's parameters (max_logit/margin)."""
    inst = decision_inst(model)
    kind = inst.get_nodeattr("kind")
    out_dir.mkdir(parents=True, exist_ok=True)
    if kind not in RTL_KINDS:
        model.set_metadata_prop("exitflow_rtl", "none: no RTL for this policy yet")
        return model
    t = inst.get_nodeattr("threshold")
    w, c = inst.get_nodeattr("logit_bits"), inst.get_nodeattr("num_classes")
    cw = class_bits(c)
    # The statistic (a logit, or a margin up to 2^W - 1) lies in [-2^W, 2^W): clamping T to
    # that range keeps the decision and fits the RTL's 32-bit parameter; "never" is 2^W.
    bound = 1 << w
    thr = bound if t == NEVER else min(max(int(t), -bound), bound)
    text = (
        f"// {name}: exit-decision unit ({kind}), generated by exitflow\n"
        f"module {name} (input wire clk, input wire rst_n,\n"
        f"  input wire [{w - 1}:0] s_tdata, input wire s_tvalid, output wire s_tready,\n"
        f"  output wire [{cw}:0] m_tdata, output wire m_tvalid, input wire m_tready);\n"
        f"  exit_decision #(.C({c}), .W({w}), .POLICY({rule(kind).rtl_code}), "
        f".THRESHOLD({thr}), .CW({cw})) u (\n"
        "    .ap_clk(clk), .ap_rst_n(rst_n), .s_tdata(s_tdata), .s_tvalid(s_tvalid),\n"
        "    .s_tready(s_tready), .m_tdata(m_tdata), .m_tvalid(m_tvalid), .m_tready(m_tready));\n"
        "endmodule\n"
    )
    path = out_dir / f"{name}.v"
    path.write_text(text)
    model.set_metadata_prop("exitflow_rtl", str(path))
    return model
