"""The `train` and `export` steps: QAT of every exit, then QONNX partitions and the reference.

The functions here do the work; exitflow.runner decides whether they run (exitflow.steps declares
their inputs and outputs). `step_train` and `step_export` are the runnable Steps.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from exitflow.core.errors import DataError, VerificationError
from exitflow.core.files import write_json
from exitflow.core.outputs import load_outputs, save_outputs
from exitflow.core.policies import apply_policy, load_policy
from exitflow.core.schema import to_dict
from exitflow.quant.checkpoint import load_model
from exitflow.quant.data import load_splits
from exitflow.quant.export import BOUNDARY_SAMPLES, export_model, save_reference
from exitflow.quant.infer import compute_outputs
from exitflow.quant.model import build_model
from exitflow.quant.parity import check_qonnx_parity
from exitflow.quant.train import fit, seed_everything
from exitflow.results import ExportResult, TrainResult
from exitflow.run import Run
from exitflow.steps import STEPS

__all__ = ["export", "step_export", "step_train", "train"]

log = logging.getLogger(__name__)


def train(run: Run) -> TrainResult:
    """Train (or resume from train/last.pt) the multi-exit network; write train/{best,last}.pt,
    history.json and the integer outputs eval/outputs_{val,test}.npz."""
    cfg, lay = run.cfg, run.layout
    # data and config are checked before anything is written: a bad dataset.path loses nothing
    splits = load_splits(cfg.dataset, run.data_root)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.train.seed)
    in_shape = tuple(splits.train.images.shape[1:])
    model = build_model(cfg.model, in_shape, splits.train.num_classes)
    result = fit(
        model,
        splits.train.images,
        splits.train.labels,
        splits.val.images,
        splits.val.labels,
        cfg.train,
        lay.train_dir,
        run.progress,
        data_key=to_dict(cfg.dataset),
    )
    log.info(
        "train: best epoch %d, final-exit validation accuracy %.4f, %.1f min of training",
        result.best_epoch,
        result.best_val_acc,
        result.train_seconds / 60,
    )
    model = load_model(result.best_path)
    for split in ("val", "test"):
        data = getattr(splits, split)
        path = lay.outputs(split)
        save_outputs(compute_outputs(model, data.images, data.labels, run.progress), path)
        log.info("wrote %s", path)
    return TrainResult(
        lay.best_pt, result.best_epoch, float(result.best_val_acc), float(result.train_seconds)
    )


def export(run: Run) -> ExportResult:
    """Export the trained model as QONNX partitions + full.onnx, write manifest.json and
    reference.npz (test outputs with the calibrated policy's decisions), and check the QONNX
    models bit-exact against brevitas on hw.verify_samples test images (VerificationError if not;
    the artefacts are then kept for inspection and later steps refuse them)."""
    cfg, lay = run.cfg, run.layout
    model = load_model(lay.best_pt)
    spec = load_policy(lay.policy)
    if spec.num_exits != model.num_exits:
        raise DataError(
            f"{lay.policy} is for {spec.num_exits} exits but the model has {model.num_exits}: "
            "rerun `exitflow calibrate --force` after retraining"
        )
    test = load_splits(cfg.dataset, run.data_root).test
    outputs = compute_outputs(model, test.images, test.labels, run.progress)
    stored = lay.outputs_test
    if stored.is_file() and not np.array_equal(load_outputs(stored).logits, outputs.logits):
        raise DataError(
            f"{stored} was not computed by {lay.best_pt} (logits differ): rerun "
            "`exitflow train --force`, or delete the stale eval outputs"
        )
    outputs.exit_index, outputs.pred = apply_policy(outputs.logits, spec)
    export_model(model, lay.export_dir, cfg.name)
    save_reference(lay.reference, outputs, model, test.images)
    n = min(cfg.hw.verify_samples, BOUNDARY_SAMPLES, len(test.images))
    report = check_qonnx_parity(run.run_dir, n, strict=False)
    write_json(lay.parity, report.as_dict())
    if not report.ok:
        raise VerificationError(
            f"QONNX export is not bit-exact with brevitas: mismatching samples {report.mismatches}"
            f" of {n} (details in {lay.parity} and the log); the build must not use it"
        )
    log.info("export: wrote %s (partitions, full.onnx, reference.npz, parity.json)", lay.manifest)
    return ExportResult(lay.manifest, n)


step_train = STEPS["train"]
step_export = STEPS["export"]
