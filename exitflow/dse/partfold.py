"""One partition folded for one target: FINN's folding + estimate steps on its checkpoint.

The candidate folding of a partition re-runs only what follows specialisation in the build
(hw/flow/builder.py keeps a checkpoint per step): FINN's SetFolding for the target cycles per
frame, the minimum SIMD FINN can generate, the bit-width pass and the width converters, then
FINN's analytical estimate (exitflow.hw.flow.estimates). Partitions fold independently, so the
search caches this by (checkpoint digest, target), not by candidate design.

FINN's SetFolding stops raising an MVAU's SIMD once the weights per PE are wider than
`mvau_wwidth_max` (36 bits by default) and only logs a warning; a stage can then stay far
slower than its target. Here the folding must reach its target: where it stops short, the
limit is doubled (up to `wwidth_limit`) and SetFolding runs again; a target no folding reaches
is recorded as not reached with the cycles it does reach, and the search treats it as such
(never as a design at the target). The folding reached (every PE/SIMD) is returned so that the
build reproduces it exactly (hw.folding_overrides).
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["FOLD_STEPS", "fold_partition"]

log = logging.getLogger(__name__)

FOLD_STEPS = ("step_set_folding", "step_minimize_bit_width", "step_insert_dwc_fifo")
# parallel_window too: SetFolding sets it on a window generator at its widest SIMD when the target
# needs more, so a head folded for a cap below its stage's target (search.head_caps) can differ
# from the build's SetFolding at the stage's target beyond PE/SIMD
FOLD_ATTRS = ("PE", "SIMD", "parallel_window")


def _folding(model) -> dict[str, dict[str, int]]:
    from qonnx.custom_op.registry import getCustomOp

    out: dict[str, dict[str, int]] = {}
    for node in model.graph.node:
        attrs = getCustomOp(node).get_nodeattr_types()
        fold = {a: int(getCustomOp(node).get_nodeattr(a)) for a in FOLD_ATTRS if a in attrs}
        if fold:
            out[node.name] = fold
    return out


def _mvau_at_limit(model, wwidth: int) -> bool:
    """Some MVAU whose SIMD SetFolding could still raise stopped at the weight-width limit."""
    from qonnx.custom_op.registry import getCustomOp

    for node in model.graph.node:
        if not node.op_type.startswith("MVAU"):
            continue
        inst = getCustomOp(node)
        simd, mw = int(inst.get_nodeattr("SIMD")), int(inst.get_nodeattr("MW"))
        wbits = inst.get_input_datatype(1).bitwidth()
        nxt = next((d for d in range(simd + 1, mw + 1) if mw % d == 0), None)
        if nxt is not None and wbits * nxt > wwidth:
            return True
    return False


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _node_cost(inst, fpgapart: str, costs: dict[str, float]) -> float:
    res = inst.node_res_estimation(fpgapart)
    return sum(float(res.get(k, 0.0)) * w for k, w in costs.items())


def refine_mvaus(model, target: int, wwidth_limit: int, fpgapart: str,
                 costs: dict[str, float]) -> int:  # fmt: skip
    """Give every MVAU the cheapest (PE, SIMD) that meets `target` cycles.

    SetFolding raises SIMD up to the weight width it is given, then PE over the divisors of MH
    (powers of two on these networks): one step doubles the DSPs. Any PE | MH and SIMD | MW
    with SIMD x weight bits <= `wwidth_limit` is valid, so every pair meeting the target (or,
    where none does, the fastest) is costed with FINN's own node estimate, weighted by
    `costs` (1 / the board's count per resource), and the cheapest is taken; SetFolding's own
    choice is kept on a tie. Returns how many MVAUs changed.
    """
    from qonnx.custom_op.registry import getCustomOp

    changed = 0
    for node in model.graph.node:
        if not node.op_type.startswith("MVAU"):
            continue
        inst = getCustomOp(node)
        pe0, simd0 = int(inst.get_nodeattr("PE")), int(inst.get_nodeattr("SIMD"))
        mw, mh = int(inst.get_nodeattr("MW")), int(inst.get_nodeattr("MH"))
        wbits = inst.get_input_datatype(1).bitwidth()
        # MVAU_hls needs SIMD >= MW / 1024 (exitflow.hw.flow.folding)
        least = next(d for d in _divisors(mw) if node.op_type != "MVAU_hls" or d * 1024 >= mw)
        pairs = []
        for pe in _divisors(mh):
            for simd in _divisors(mw):
                if simd >= least and (simd * wbits <= wwidth_limit or simd <= simd0):
                    inst.set_nodeattr("PE", pe)
                    inst.set_nodeattr("SIMD", simd)
                    pairs.append((int(inst.get_exp_cycles()), pe, simd))
        fastest = min(c for c, _, _ in pairs)
        limit = max(int(target), fastest)
        best, best_cost = (pe0, simd0), None
        for c, pe, simd in pairs:
            if c > limit:
                continue
            inst.set_nodeattr("PE", pe)
            inst.set_nodeattr("SIMD", simd)
            cost = (_node_cost(inst, fpgapart, costs), c)
            tie_to_finn = cost == best_cost and (pe, simd) == (pe0, simd0)
            if best_cost is None or cost < best_cost or tie_to_finn:
                best, best_cost = (pe, simd), cost
        inst.set_nodeattr("PE", best[0])
        inst.set_nodeattr("SIMD", best[1])
        changed += best != (pe0, simd0)
    return changed


def fold_partition(
    checkpoint: str,
    name: str,
    kind: str,
    target: int,
    fpgapart: str,
    clock_mhz: float,
    mvau_style: str,
    wwidth_start: int = 36,
    wwidth_limit: int = 1024,
    finn_dir: str | None = None,
    costs: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Fold `checkpoint` (the partition after step_specialize_layers) for `target` cycles.

    Returns the estimate (exitflow.hw.flow.estimates.PartitionEstimate fields, nodes dropped),
    `reached` (cycles_per_frame <= target), `mvau_wwidth_max` used and `folding`.
    """
    from pathlib import Path

    from finn.transformation.fpgadataflow.set_folding import SetFolding
    from qonnx.core.modelwrapper import ModelWrapper

    from exitflow.hw.flow import finn_compat, folding, steps
    from exitflow.hw.flow.estimates import partition_estimate
    from exitflow.hw.ops.exit_decision import op as decision_op

    if finn_dir is not None:
        finn_compat.init_finn(Path(finn_dir), workers=1)
    source = ModelWrapper(checkpoint)
    cfg = steps.PartitionCfg(
        name, kind, fpgapart, 1000.0 / clock_mhz, target, mvau_style=mvau_style
    )
    if decision_op.is_custom_decision(source):
        est = partition_estimate(source, name, fpgapart)
        return _result(est, target, None, {}, [])
    wwidth, tried = wwidth_start, []
    while True:
        model = ModelWrapper(source.model.SerializeToString())
        model = model.transform(SetFolding(int(target), mvau_wwidth_max=wwidth))
        model = folding.raise_min_simd(model)
        if costs:
            refine_mvaus(model, target, wwidth_limit, fpgapart, costs)
        folding.check_folding(model, name)
        fold = _folding(model)
        for fn in (steps.step_minimize_bit_width, steps.step_insert_dwc_fifo):
            model = fn(model, cfg)
        est = partition_estimate(model, name, fpgapart)
        tried.append({"mvau_wwidth_max": wwidth, "cycles_per_frame": est.cycles_per_frame})
        if est.cycles_per_frame <= target or wwidth >= wwidth_limit:
            break
        if not _mvau_at_limit(model, wwidth):
            break  # PE and SIMD are at their maximum: no folding is faster
        wwidth = min(2 * wwidth, wwidth_limit)
        log.info("%s: target %d not reached, mvau_wwidth_max raised to %d", name, target, wwidth)
    return _result(est, target, wwidth, fold, tried)


def _result(est, target: int, wwidth: int | None, fold: dict, tried: list) -> dict[str, Any]:
    return {
        "name": est.name,
        "target_cycles": int(target),
        "cycles_per_frame": int(est.cycles_per_frame),
        "latency_cycles": int(est.latency_cycles),
        "in_beats": int(est.in_beats),
        "in_width_bits": int(est.in_width_bits),
        "out_beats": int(est.out_beats),
        "out_width_bits": int(est.out_width_bits),
        "resources": {k: float(v) for k, v in est.resources.items()},
        "bottleneck": est.bottleneck,
        "reached": bool(est.cycles_per_frame <= target),
        "mvau_wwidth_max": wwidth,
        "tries": tried,
        "folding": fold,
    }
