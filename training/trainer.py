"""Fine-tuning with transformers' Trainer: window batches, masked multi-head loss, class weights,
early stopping on dev, a wall-clock budget and a rich progress bar."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from datasets import Dataset
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from transformers import EarlyStoppingCallback, Trainer, TrainerCallback, TrainingArguments, set_seed
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from xinfang.heads import aggregate_windows
from xinfang.schema import HeadKind, Schema
from xinfang.training.model import MultiHeadModel, label_key, mask_key, span_keys
from xinfang.training.profiles import Profile
from xinfang.window_batches import pad_windows, run_length_sorted


class WindowCollator:
    """Pads a list of windows to the longest one and stacks per-head targets and masks."""

    def __init__(self, pad_id: int, schema: Schema):
        self.pad_id = pad_id
        self.heads = schema.head_names

    def __call__(self, rows: list[dict]) -> dict[str, torch.Tensor]:
        ids, att = pad_windows([r["input_ids"] for r in rows], self.pad_id)
        batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(att)}
        for h in self.heads:
            if label_key(h) in rows[0]:
                batch[label_key(h)] = torch.tensor([r[label_key(h)] for r in rows], dtype=torch.float32)
                batch[mask_key(h)] = torch.tensor([r[mask_key(h)] for r in rows], dtype=torch.float32)
            start, end, mask = span_keys(h)
            if start in rows[0]:
                batch[start] = torch.tensor([r[start] for r in rows], dtype=torch.long)
                batch[end] = torch.tensor([r[end] for r in rows], dtype=torch.long)
                batch[mask] = torch.tensor([r[mask] for r in rows], dtype=torch.float32)
        return batch


def class_weights(ds: Dataset, schema: Schema, cap: float = 8.0) -> dict[str, list[float]]:
    """Per-class weights from the labelled training windows: positive weights (sqrt of neg/pos) for
    sigmoid heads, inverse frequency for single-label heads; capped so rare classes do not dominate."""
    out = {}
    for head in schema.heads:
        mask = np.asarray(ds[mask_key(head.name)], dtype=bool)
        y = np.asarray(ds[label_key(head.name)], dtype=np.float64)[mask]
        if len(y) == 0:
            out[head.name] = [1.0] * head.n_outputs
            continue
        pos = y.sum(axis=0)
        if head.kind is HeadKind.single_label:
            w = len(y) / (head.n_outputs * np.maximum(pos, 1.0))
        else:
            w = np.sqrt((len(y) - pos) / np.maximum(pos, 1.0))
        out[head.name] = np.clip(w, 1.0 / cap, cap).round(4).tolist()
    return out


class TimeBudget(TrainerCallback):
    """Stops training once the wall-clock budget is spent (a run that evaluates on dev still does so)."""

    def __init__(self, seconds: float, evaluate: bool = True):
        self.seconds = seconds
        self.evaluate = evaluate
        self.start = time.monotonic()
        self.hit = False

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if time.monotonic() - self.start > self.seconds:
            self.hit = True
            control.should_training_stop = True
            control.should_evaluate = self.evaluate
        return control


class RichProgress(TrainerCallback):
    """A rich progress bar with loss, in place of tqdm."""

    def __init__(self, console: Console):
        self.console = console
        self.progress: Progress | None = None
        self.task = None
        self.loss = float("nan")

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001
        self.progress = Progress(TextColumn("[bold]training"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("loss {task.fields[loss]:.4f}"), TimeElapsedColumn(),
                                 TextColumn("eta"), TimeRemainingColumn(), console=self.console, transient=False)
        self.progress.start()
        self.task = self.progress.add_task("train", total=state.max_steps, loss=float("nan"))

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.progress is not None:
            self.progress.update(self.task, completed=state.global_step, loss=self.loss)

    def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
        logs = logs or {}
        if "loss" in logs:
            self.loss = float(logs["loss"])
        if "eval_loss" in logs and self.progress is not None:
            self.progress.console.print(f"  step {state.global_step}: dev loss {logs['eval_loss']:.4f}")

    def on_train_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if self.progress is not None:
            self.progress.stop()


@dataclass
class TrainResult:
    seconds: float
    steps: int
    epochs: float
    best_dev_loss: float | None
    stopped_by_budget: bool


def _optimizer(model: MultiHeadModel, profile: Profile) -> torch.optim.Optimizer:
    decay, no_decay = [], []
    for p in model.encoder.parameters():
        (no_decay if p.ndim < 2 else decay).append(p)
    groups = [
        {"params": decay, "lr": profile.learning_rate, "weight_decay": profile.weight_decay},
        {"params": no_decay, "lr": profile.learning_rate, "weight_decay": 0.0},
        {"params": list(model.heads.parameters()) + list(model.span_heads.parameters()),
         "lr": profile.head_learning_rate, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups)


def fit(model: MultiHeadModel, train: Dataset, dev: Dataset, profile: Profile, pad_id: int, workdir: Path,
        console: Console) -> TrainResult:
    """Train in place; the best checkpoint on dev loss is loaded at the end."""
    set_seed(profile.seed)
    steps_per_epoch = math.ceil(len(train) / profile.batch_size)
    max_steps = max(1, math.ceil(steps_per_epoch * profile.epochs))
    eval_steps = max(1, math.ceil(max_steps / max(profile.eval_times, 1)))
    evaluate = profile.eval_times > 0  # 0: a fixed schedule, no dev passes during training (the quick profile)
    args = TrainingArguments(
        output_dir=str(workdir),
        per_device_train_batch_size=profile.batch_size,
        per_device_eval_batch_size=profile.batch_size * 2,
        max_steps=max_steps,
        lr_scheduler_type="linear",
        warmup_steps=max(1, int(profile.warmup_ratio * max_steps)),
        eval_strategy="steps" if evaluate else "no",
        eval_steps=eval_steps,
        save_strategy="steps" if evaluate else "no",
        save_steps=eval_steps,
        save_total_limit=1,
        save_only_model=True,
        load_best_model_at_end=evaluate,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=max(1, min(10, eval_steps)),
        report_to="none",
        disable_tqdm=True,
        seed=profile.seed,
        data_seed=profile.seed,
        use_cpu=not torch.cuda.is_available(),
        remove_unused_columns=False,
        # batches of similar length: short COLD comments cost a fraction of a full letter window
        train_sampling_strategy="group_by_length",
        label_names=[k for h in model.schema.head_names for k in (label_key(h), mask_key(h))]
        + [k for h in model.span_heads for k in span_keys(h)],
        dataloader_num_workers=0,
        log_level="error",
    )
    budget = TimeBudget(profile.time_budget_s, evaluate)
    trainer = Trainer(
        model=model,
        args=args,
        train_dataset=train,
        eval_dataset=dev,
        data_collator=WindowCollator(pad_id, model.schema),
        optimizers=(_optimizer(model, profile), None),
        callbacks=[budget, RichProgress(console)]
        + ([EarlyStoppingCallback(profile.early_stopping_patience)] if evaluate else []),
    )
    for noisy in (PrinterCallback, ProgressCallback):  # rich progress replaces their prints
        trainer.remove_callback(noisy)
    start = time.monotonic()
    out = trainer.train()
    seconds = time.monotonic() - start
    return TrainResult(seconds=seconds, steps=out.global_step, epochs=round(out.global_step / steps_per_epoch, 3),
                       best_dev_loss=trainer.state.best_metric, stopped_by_budget=budget.hit)


@torch.inference_mode()
def torch_window_logits(model: MultiHeadModel, windows: list[list[int]], pad_id: int, batch_size: int = 32
                        ) -> dict[str, np.ndarray]:
    """Raw window logits per head from the torch model (length-sorted batches)."""
    model.eval()

    def run(ids: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        out = model.logits(torch.from_numpy(ids), torch.from_numpy(mask))
        return {h: v.float().numpy() for h, v in out.items()}

    return run_length_sorted(windows, pad_id, run, batch_size)


def predict_letters(model: MultiHeadModel, windows: Dataset, n_letters: int, pad_id: int,
                    batch_size: int = 64) -> dict[str, np.ndarray]:
    """Letter-level logits per head: windows run in length-sorted batches, then aggregated."""
    rows = np.asarray(windows["letter_row"])
    if not len(rows):
        return {h.name: np.zeros((n_letters, h.n_outputs)) for h in model.schema.heads}
    logits = torch_window_logits(model, windows["input_ids"], pad_id, batch_size)
    return {h.name: aggregate_windows(logits[h.name], rows, n_letters, h.kind) for h in model.schema.heads}
