"""exitflow's own graph rewrites: small qonnx Transformations, each `apply(model) -> (model, modified)`.

They prepare one exported partition (a backbone stage or an exit head) for FINN's streaming
dataflow: NHWC stream interfaces on both ends, integer outputs (the dequantising scale leaves the
graph and is recorded), and the NCHW flatten of a head folded into its classifier weights.
"""

from __future__ import annotations

import numpy as np
import qonnx.core.data_layout as DataLayout
from onnx import TensorProto, helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes
from qonnx.transformation.infer_shapes import InferShapes
from qonnx.util.basic import get_by_name

# metadata_props keys recorded on a partition model
LAYOUT_KEY = "exitflow_layout"  # "NHWC" once MakeChannelsLast ran
SCALE_KEY = "exitflow_out_scale"  # real output = integer output * scale

NCHW_TO_NHWC = [0, 2, 3, 1]
NHWC_TO_NCHW = [0, 3, 1, 2]


def _perm(node) -> list[int] | None:
    attr = get_by_name(node.attribute, "perm")
    return list(attr.ints) if attr is not None else None


class MakeChannelsLast(Transformation):
    """Give 4D graph inputs and outputs NHWC shapes, with the NCHW transposes inside the graph.

    A FINN stream carries NHWC pixels; inside, FINN's streamlining absorbs these transposes into
    the ones it inserts when lowering convs and max-pools, so no transpose remains in hardware
    or software between two partitions.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        if model.get_metadata_prop(LAYOUT_KEY) == "NHWC":
            return model, False
        graph = model.graph
        for i, inp in enumerate(list(graph.input)):
            shape = model.get_tensor_shape(inp.name)
            if shape is None or len(shape) != 4:
                continue
            n, c, h, w = shape
            dtype = model.get_tensor_datatype(inp.name)
            new_name = model.make_new_valueinfo_name()
            new_in = helper.make_tensor_value_info(new_name, TensorProto.FLOAT, [n, h, w, c])
            graph.input.remove(inp)
            graph.input.insert(i, new_in)
            graph.value_info.append(inp)
            model.set_tensor_datatype(new_name, dtype)
            model.set_tensor_layout(new_name, DataLayout.NHWC)
            graph.node.insert(
                0, helper.make_node("Transpose", [new_name], [inp.name], perm=NHWC_TO_NCHW)
            )
        for i, out in enumerate(list(graph.output)):
            shape = model.get_tensor_shape(out.name)
            if shape is None or len(shape) != 4:
                continue
            n, c, h, w = shape
            new_name = model.make_new_valueinfo_name()
            new_out = helper.make_tensor_value_info(new_name, TensorProto.FLOAT, [n, h, w, c])
            graph.output.remove(out)
            graph.output.insert(i, new_out)
            graph.value_info.append(out)
            graph.node.append(
                helper.make_node("Transpose", [out.name], [new_name], perm=NCHW_TO_NHWC)
            )
        model.set_metadata_prop(LAYOUT_KEY, "NHWC")
        model = model.transform(InferShapes())
        return model.transform(InferDataTypes()), False


class CancelTransposesAtOutput(Transformation):
    """Remove an NHWC->NCHW->NHWC transpose pair that ends at a graph output.

    FINN's AbsorbConsecutiveTransposes asserts when the second transpose writes a graph output,
    which is what MakeChannelsLast leaves behind a stage without a final max-pool.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        for out in graph.output:
            t2 = model.find_producer(out.name)
            if t2 is None or t2.op_type != "Transpose":
                continue
            t1 = model.find_producer(t2.input[0])
            if (
                t1 is None
                or t1.op_type != "Transpose"
                or model.find_consumers(t1.output[0]) != [t2]
            ):
                continue
            p1, p2 = _perm(t1), _perm(t2)
            if p1 is None or p2 is None or [p1[i] for i in p2] != [0, 1, 2, 3]:
                continue
            src = t1.input[0]
            if model.find_producer(src) is None:
                continue
            dtype = model.get_tensor_datatype(src)
            graph.node.remove(t1)
            graph.node.remove(t2)
            for vi in [v for v in graph.value_info if v.name in (src, t1.output[0])]:
                graph.value_info.remove(vi)
            for node in graph.node:
                for i, name in enumerate(node.output):
                    if name == src:
                        node.output[i] = out.name
                for i, name in enumerate(node.input):
                    if name == src:
                        node.input[i] = out.name
            model.set_tensor_datatype(out.name, dtype)
            return model, True
        return model, False


class StripOutputScale(Transformation):
    """Remove a trailing scalar Mul whose input is an integer tensor; record its factor.

    The partition then outputs the integer lattice (a stage's activations, a head's accumulators)
    and the host or the next partition applies the scale. Without this FINN would put a FLOAT32
    ElementwiseMul in hardware.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        for out in graph.output:
            producer = model.find_producer(out.name)
            if producer is None or producer.op_type != "Mul":
                continue
            factor = model.get_initializer(producer.input[1])
            src = producer.input[0]
            if (
                factor is None
                or factor.size != 1
                or not model.get_tensor_datatype(src).is_integer()
            ):
                continue
            if model.find_consumers(src) != [producer] or src in [i.name for i in graph.input]:
                continue
            # rewire the integer tensor's producer to write the graph output directly
            upstream = model.find_producer(src)
            if upstream is None:
                continue
            upstream.output[list(upstream.output).index(src)] = out.name
            model.set_tensor_datatype(out.name, model.get_tensor_datatype(src))
            graph.node.remove(producer)
            old = float(model.get_metadata_prop(SCALE_KEY) or 1.0)
            model.set_metadata_prop(SCALE_KEY, repr(old * float(factor.reshape(-1)[0])))
            return model, True
        return model, False


class AbsorbTransposeFlattenIntoMatMul(Transformation):
    """Transpose(NHWC->NCHW) -> Reshape/Flatten to 2D -> MatMul becomes Reshape -> MatMul(W').

    W' has its rows permuted from NCHW to NHWC flatten order, so the classifier reads the NHWC
    stream as it arrives. FINN's RemoveCNVtoFCFlatten does the same only when the transpose's
    producer is already a HW layer; an exit head without pooling reads its graph input directly.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        for node in list(graph.node):
            if node.op_type != "Transpose" or _perm(node) != NHWC_TO_NCHW:
                continue
            flat = model.find_consumer(node.output[0])
            if flat is None or flat.op_type not in ("Reshape", "Flatten"):
                continue
            if len(model.get_tensor_shape(flat.output[0])) != 2:
                continue
            mm = model.find_consumer(flat.output[0])
            if mm is None or mm.op_type != "MatMul":
                continue
            weight = model.get_initializer(mm.input[1])
            if weight is None or model.find_consumers(node.output[0]) != [flat]:
                continue
            n, h, w, c = model.get_tensor_shape(node.input[0])
            rows, cols = weight.shape
            permuted = weight.reshape(c, h, w, cols).transpose(1, 2, 0, 3).reshape(rows, cols)
            model.set_initializer(mm.input[1], permuted.astype(np.float32))
            flat.input[0] = node.input[0]
            if flat.op_type == "Reshape":
                model.set_initializer(flat.input[1], np.array([n, h * w * c], dtype=np.int64))
            graph.node.remove(node)
            model = model.transform(InferShapes())
            return model, True
        return model, False


class RemoveInputReshape(Transformation):
    """Drop a Reshape/Flatten that is the very first node (a stream is already flat).

    After AbsorbTransposeFlattenIntoMatMul a head without pooling starts with Reshape(NHWC ->
    2D), which FINN cannot map; the 2D input carries the same beats in the same order.
    """

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        graph = model.graph
        inp = graph.input[0]
        consumers = model.find_consumers(inp.name)
        if len(consumers) != 1 or consumers[0].op_type not in ("Reshape", "Flatten"):
            return model, False
        node = consumers[0]
        dtype = model.get_tensor_datatype(inp.name)
        shape = model.get_tensor_shape(node.output[0])
        new_in = helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, shape)
        for vi in [v for v in graph.value_info if v.name == node.output[0]]:
            graph.value_info.remove(vi)
        graph.input.remove(inp)
        graph.input.insert(0, new_in)
        graph.node.remove(node)
        model.set_tensor_datatype(node.output[0], dtype)
        return model.transform(InferDataTypes()), True


def unmapped_nodes(model: ModelWrapper) -> list[str]:
    """Names and op types of nodes that are not FINN HW layers."""
    return [
        f"{n.name or '?'} ({n.op_type})"
        for n in model.graph.node
        if not n.domain.startswith("finn.custom_op.fpgadataflow")
    ]
