"""The training loop: Adam, full-softmax cross-entropy, early stopping on a validation metric, best weights
restored for the test, results and the best checkpoint written atomically."""
from __future__ import annotations

import copy
import logging
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from . import io
from .config import Config
from .data import LeaveOneOutSplit
from .evaluate import evaluate, trim_left_padding
from .models.base import SequentialRecommender
from .seed import seed_everything

log = logging.getLogger(__name__)


class TrainingError(RuntimeError):
    """Training cannot go on (for example: the loss became NaN or infinite)."""


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50
                     ) -> list[np.ndarray]:
    """Shuffled batches of row indices in which rows have similar lengths, so that per-batch trimming of
    padding pays: rows are shuffled, sorted by length within pools of ``pool`` batches, cut into batches,
    and the batches shuffled."""
    order = rng.permutation(len(lengths))
    batches = []
    for begin in range(0, len(order), batch_size * pool):
        chunk = order[begin:begin + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def versions() -> dict[str, str]:
    import torch_geometric

    return {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
            "torch_geometric": torch_geometric.__version__}


@dataclass
class EarlyStopping:
    patience: int
    best: float = float("-inf")
    best_epoch: int = -1
    bad_epochs: int = 0
    best_state: dict[str, Any] = field(default_factory=dict)

    def update(self, value: float, epoch: int, model: torch.nn.Module) -> bool:
        """Record ``value`` for ``epoch``; True when training should stop."""
        if value > self.best:
            self.best, self.best_epoch, self.bad_epochs = value, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.bad_epochs += 1
        return self.bad_epochs >= self.patience


class Trainer:
    def __init__(self, model: SequentialRecommender, split: LeaveOneOutSplit, config: Config, num_items: int,
                 out_dir: str | Path | None = None) -> None:
        self.model = model.to(config.device)
        self.split = split
        self.config = config
        self.num_items = num_items
        self.out_dir = Path(out_dir) if out_dir else None
        self.windows = split.train_windows(config.max_len)
        self.window_lengths = (self.windows != 0).sum(1)

    def evaluate(self, stage: str) -> dict[str, float]:
        inputs, targets = self.split.eval_inputs(stage, self.config.max_len)
        return evaluate(self.model, inputs, targets, self.config.topk, self.num_items,
                        batch_size=self.config.eval_batch_size, item_chunk=self.config.item_chunk,
                        mask_history=self.config.mask_history, device=self.config.device)

    def train_epoch(self, optimizer: torch.optim.Optimizer, rng: np.random.Generator, epoch: int) -> float:
        self.model.train()
        batches = bucketed_batches(self.window_lengths, self.config.batch_size, rng)
        total, count = 0.0, 0
        bar = tqdm(batches, desc=f"epoch {epoch}", leave=False, disable=None, file=sys.stderr)
        for step, rows in enumerate(bar):
            window = torch.as_tensor(trim_left_padding(self.windows[rows]), device=self.config.device)
            loss = self.model.loss(window[:, :-1], window[:, 1:])
            if not torch.isfinite(loss):
                raise TrainingError(f"loss became {loss.item()} at epoch {epoch}, step {step}; "
                                    "try a lower learning rate")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
            count += len(rows)
            bar.set_postfix(loss=f"{loss.item():.4f}")
        return total / max(count, 1)

    def fit(self) -> dict[str, Any]:
        """Train with early stopping, then test the best weights; returns the results dictionary."""
        config = self.config
        seed_everything(config.seed)
        rng = np.random.default_rng(config.seed)
        started = time.time()
        history: list[dict[str, Any]] = []
        stopper = EarlyStopping(config.patience)
        if self.model.trainable:
            optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
            for epoch in range(1, config.epochs + 1):
                tick = time.time()
                loss = self.train_epoch(optimizer, rng, epoch)
                train_seconds = time.time() - tick
                valid = self.evaluate("valid")
                record = {"epoch": epoch, "loss": loss, "train_seconds": train_seconds,
                          "seconds": time.time() - tick, "valid": valid}
                history.append(record)
                log.info("epoch %3d  loss %.4f  %s  %.1fs", epoch, loss,
                         "  ".join(f"{k} {v:.4f}" for k, v in valid.items()), record["seconds"])
                if stopper.update(valid[config.valid_metric], epoch, self.model):
                    log.info("early stop: no better %s for %d epochs", config.valid_metric, config.patience)
                    break
            self.model.load_state_dict(stopper.best_state)
            if self.out_dir:
                io.torch_save(self.out_dir / "best.pt", stopper.best_state)
        valid = self.evaluate("valid")
        test = self.evaluate("test")
        return {
            "dataset": config.dataset,
            "model": config.model,
            "config": config.to_dict(),
            "best_epoch": stopper.best_epoch if self.model.trainable else 0,
            "valid": valid,
            "test": test,
            "history": history,
            "seconds": time.time() - started,
            "train_rows": int(len(self.windows)),
            "train_targets": int((self.windows[:, :-1] != 0).sum()),
            "mask_history": config.mask_history,
            "versions": versions(),
        }
