"""The `train` and `export` steps: QAT of every exit, then QONNX partitions and the reference."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import torch

from exitflow.context import RunContext, StepUnavailable
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

log = logging.getLogger(__name__)


def _train_outputs(run_dir: Path) -> list[Path]:
    return [
        run_dir / "train" / "best.pt",
        run_dir / "eval" / "outputs_val.npz",
        run_dir / "eval" / "outputs_test.npz",
    ]


def step_train(ctx: RunContext) -> Path:
    """Train (or resume) the multi-exit network; write train/{best,last}.pt, history.json and the
    integer outputs eval/outputs_{val,test}.npz. Skipped when they exist unless ctx.force."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    best = run_dir / "train" / "best.pt"
    if all(p.is_file() for p in _train_outputs(run_dir)) and not ctx.force:
        log.info("train: %s and eval outputs exist, skipped (--force retrains)", best)
        return best
    if ctx.force and (run_dir / "train").exists():
        # --force means "from scratch": an old last.pt would otherwise be resumed.
        shutil.rmtree(run_dir / "train")
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    splits = load_splits(cfg.dataset, ctx.data_root)
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
        run_dir / "train",
        ctx.progress,
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
        path = run_dir / "eval" / f"outputs_{split}.npz"
        save_outputs(compute_outputs(model, data.images, data.labels, ctx.progress), path)
        log.info("wrote %s", path)
    return best


def step_export(ctx: RunContext) -> Path:
    """Export the trained model as QONNX partitions + full.onnx, write manifest.json and
    reference.npz (test outputs with the calibrated policy's decisions), and check the QONNX
    models bit-exact against brevitas on hw.verify_samples test images."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    out_dir = run_dir / "export"
    manifest = out_dir / "manifest.json"
    if manifest.is_file() and (out_dir / "reference.npz").is_file() and not ctx.force:
        log.info("export: %s exists, skipped (--force redoes it)", manifest)
        return manifest
    best = run_dir / "train" / "best.pt"
    policy_path = run_dir / "calibrate" / "policy.json"
    for path, step in ((best, "train"), (policy_path, "calibrate")):
        if not path.is_file():
            raise StepUnavailable(f"{path} is missing: run `exitflow {step}` first")
    model = load_model(best)
    spec = load_policy(policy_path)
    if spec.num_exits != model.num_exits:
        raise ValueError(
            f"{policy_path} is for {spec.num_exits} exits but the model has {model.num_exits}: "
            "rerun `exitflow calibrate --force` after retraining"
        )
    test = load_splits(cfg.dataset, ctx.data_root).test
    outputs = compute_outputs(model, test.images, test.labels, ctx.progress)
    stored = run_dir / "eval" / "outputs_test.npz"
    if stored.is_file() and not np.array_equal(load_outputs(stored).logits, outputs.logits):
        raise ValueError(
            f"{stored} was not computed by {best} (logits differ): rerun `exitflow train --force`"
            " or delete the stale eval outputs"
        )
    outputs.exit_index, outputs.pred = apply_policy(outputs.logits, spec)
    export_model(model, out_dir, cfg.name)
    save_reference(out_dir / "reference.npz", outputs, model, test.images)
    n = min(cfg.hw.verify_samples, BOUNDARY_SAMPLES, len(test.images))
    report = check_qonnx_parity(run_dir, n, strict=False)
    write_json(out_dir / "parity.json", report.as_dict())
    if not report.ok:
        # The artefacts stay for inspection, but the step fails: hw must not build from them.
        manifest.unlink()
        raise RuntimeError(
            f"QONNX export is not bit-exact with brevitas: mismatching samples {report.mismatches}"
            f" of {n} (details in {out_dir / 'parity.json'} and the log)"
        )
    log.info("export: wrote %s (partitions, full.onnx, reference.npz, parity.json)", manifest)
    return manifest
