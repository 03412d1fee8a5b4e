"""The training loop: Adam (or lazy Adam, ``optim.py``), full-softmax cross-entropy, early stopping on a
validation metric, best weights restored for the test, results and the best checkpoint written atomically."""

from __future__ import annotations

import copy
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from . import distributed, io
from .config import Config
from .data import LeaveOneOutSplit
from .data.cold import ColdStart
from .errors import TrainingError
from .evaluate import metrics_from_ranks, target_ranks, trim_left_padding
from .hashing import file_sha256
from .models.base import SequentialRecommender
from .optim import Optimizer, make_optimizer
from .progress import progress
from .provenance import machine, versions
from .runs import RunFolder, write_checkpoint
from .seed import seed_everything

log = logging.getLogger(__name__)


def bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator, pool: int = 50
) -> list[np.ndarray]:
    """Shuffled batches of row indices in which rows have similar lengths, so that per-batch trimming of
    padding pays: rows are shuffled, sorted by length within pools of ``pool`` batches, cut into batches,
    and the batches shuffled."""
    order = rng.permutation(len(lengths))
    batches = []
    for begin in range(0, len(order), batch_size * pool):
        chunk = order[begin : begin + batch_size * pool]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs without a better validation value; keeps the best weights."""

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


@dataclass
class TrainingProgress:
    """Where a run's training stands: the optimiser and random state, early stopping, the epochs so far."""

    optimizer: Optimizer | None
    rng: np.random.Generator
    stopper: EarlyStopping
    started: float  # time.time() of the start, less the seconds of the epochs before a resume
    epoch: int = 0  # the last finished epoch
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False


class Trainer:
    """Trains one model on a split's training windows and ranks the catalog for validation and test; with an
    output folder (a :class:`runs.RunFolder`) it writes the checkpoint, best.pt and ranks.npz there. With
    ``cold`` (the cold-start protocol, ``data/cold.py``) the model trains and validates on the warm catalog
    of ``num_items`` rows, and the held-out items join it by their features before the test."""

    def __init__(
        self,
        model: SequentialRecommender,
        split: LeaveOneOutSplit,
        config: Config,
        num_items: int,
        out_dir: str | Path | None = None,
        cold: ColdStart | None = None,
    ) -> None:
        self.model = model.to(config.training.device)
        self.engine = self.model  # what a training step calls: the model, or its DDP wrapper
        if distributed.is_distributed() and model.trainable:
            self.engine = DistributedDataParallel(self.model, forward_sync_buffers=False)
        self.split = split
        self.config = config
        self.num_items = num_items
        self.cold = cold
        self.folder = RunFolder(out_dir) if out_dir else None
        self.writes = distributed.is_main()  # with several ranks, rank 0 alone writes files
        self.windows = split.train_windows(config.data.max_len)
        self.window_lengths = (self.windows != 0).sum(1)

    def keep_rows(self, rows: np.ndarray) -> None:
        """Train on the training windows ``rows`` only (a benchmark's share of an epoch)."""
        self.windows, self.window_lengths = self.windows[rows], self.window_lengths[rows]

    def ranks(self, stage: str) -> np.ndarray:
        """The target rank of every user of ``stage`` (capped at max(topk) + 1); with several processes each
        ranks ``users[rank::world]`` and the ranks are gathered, so they are exactly those of one process."""
        inputs, targets = self.split.eval_inputs(stage, self.config.data.max_len)
        share = slice(distributed.rank(), None, distributed.world_size())
        ranks = target_ranks(
            self.model,
            inputs[share],
            targets[share],
            max(self.config.evaluation.topk),
            batch_size=self.config.evaluation.eval_batch_size,
            item_chunk=self.config.evaluation.item_chunk,
            mask_history=self.config.evaluation.mask_history,
            num_items=self.num_items,
            device=self.config.training.device,
            desc=f"ranking {stage} users" if self.writes else None,
        )
        return distributed.gather_shards(ranks, len(targets))

    def evaluate(self, stage: str) -> dict[str, float]:
        """The metrics of every user of ``stage``."""
        return metrics_from_ranks(self.ranks(stage), self.config.evaluation.topk)

    def step(self, optimizer: Optimizer, windows: np.ndarray, where: str = "a training step") -> float:
        """One training step on the padded training ``windows`` (their common left padding trimmed): the
        loss of predicting each next item, its backward pass and ``optimizer``'s update; returns the loss."""
        window = torch.as_tensor(trim_left_padding(windows), device=self.config.training.device)
        loss = self.engine(window[:, :-1], window[:, 1:])
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at {where}; try a lower learning rate")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.item()

    def train_epoch(self, optimizer: Optimizer, rng: np.random.Generator, epoch: int) -> float:
        self.model.train()
        batches = bucketed_batches(self.window_lengths, self.config.training.batch_size, rng)
        rank, world = distributed.rank(), distributed.world_size()
        total, count = 0.0, 0
        steps = progress(batches, f"epoch {epoch}", unit="batch", enabled=rank == 0)
        for step, rows in enumerate(steps):
            if len(rows) < world:  # every rank needs a share of the batch
                continue
            rows = rows[rank::world]
            total += self.step(optimizer, self.windows[rows], f"epoch {epoch}, step {step}") * len(rows)
            count += len(rows)
        total, count = distributed.sum_across_ranks(total, count)
        return total / max(count, 1)

    def fit(self, resume: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train with early stopping, then test the best weights; returns the results dictionary.

        With an output folder, a checkpoint (model, optimiser, random states, early-stopping state, history)
        is written atomically after every epoch; ``resume`` (a checkpoint as :func:`runs.read_checkpoint`
        returns it) continues from one, and the run then ends exactly as an uninterrupted one with the same
        seed would (on CPU)."""
        seed_everything(self.config.training.seed)
        state = self.start(resume)
        while not state.stopped and state.epoch < self.config.training.epochs:
            self.run_epoch(state)
            if self.folder is not None and self.writes:
                write_checkpoint(self.folder.file(RunFolder.CHECKPOINT), self.checkpoint(state))
        return self.finish(state)

    def start(self, resume: dict[str, Any] | None) -> "TrainingProgress":
        """The state of a new run, or of the checkpoint ``resume``, with its optimiser."""
        training = self.config.training
        optimizer = None
        if self.model.trainable:
            optimizer = make_optimizer(self.model, training)
        state = TrainingProgress(
            optimizer, np.random.default_rng(training.seed), EarlyStopping(training.patience), time.time()
        )
        state.stopped = not self.model.trainable
        if resume is not None:
            self.model.load_state_dict(resume["model"])
            optimizer.load_state_dict(resume["optimizer"])
            torch.set_rng_state(resume["torch_rng"])
            state.rng.bit_generator.state = resume["numpy_rng"]
            state.stopper = EarlyStopping(**resume["early_stopping"])
            state.history, state.stopped, state.epoch = resume["history"], resume["stopped"], resume["epoch"]
            state.started = time.time() - resume["seconds"]
            log.info("resumed from the checkpoint of epoch %d", resume["epoch"])
        return state

    def run_epoch(self, state: "TrainingProgress") -> None:
        """One epoch of training and its validation, logged and recorded in ``state``."""
        state.epoch += 1
        tick = time.time()
        loss = self.train_epoch(state.optimizer, state.rng, state.epoch)
        train_seconds = time.time() - tick
        valid = self.evaluate("valid")
        record = {"epoch": state.epoch, "loss": loss, "train_seconds": train_seconds, "valid": valid}
        record["seconds"] = time.time() - tick
        state.history.append(record)
        shown = "  ".join(f"{k} {v:.4f}" for k, v in valid.items() if k.startswith(("recall", "ndcg")))
        log.info("epoch %3d  loss %.4f  %s  %.1fs", state.epoch, loss, shown, record["seconds"])
        metric = self.config.evaluation.valid_metric
        state.stopped = state.stopper.update(valid[metric], state.epoch, self.model)
        if state.stopped:
            log.info("early stop: no better %s for %d epochs", metric, self.config.training.patience)

    def add_cold_items(self) -> None:
        """The held-out items join the trained catalog by their features (as ``Recommender.add_items``)."""
        config = self.config
        new, catalog = self.cold.new_features(config.data.modalities, config.model)
        device = config.training.device
        self.model.add_items(
            {m: t.to(device) for m, t in new.items()},
            {m: t.to(device) for m, t in catalog.items()},
            config.data.cold_id_embedding,
        )
        self.model.to(device)
        self.num_items = self.cold.dataset.num_items

    def cold_counts(self, ranks: dict[str, np.ndarray]) -> dict[str, Any]:
        """How many items were held out and how many test users have a cold target (cold-start runs only)."""
        if self.cold is None:
            return {}
        return {"cold_start": {"items": self.cold.cold, "warm_items": self.cold.warm, "users": len(ranks["test_cold"])}}

    def checkpoint(self, state: "TrainingProgress") -> dict[str, Any]:
        """What resumes the run after ``state``'s epoch (the format :func:`runs.read_checkpoint` reads)."""
        return {
            "epoch": state.epoch,
            "model": self.model.state_dict(),
            "optimizer": state.optimizer.state_dict(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": state.rng.bit_generator.state,
            "early_stopping": dataclasses.asdict(state.stopper),
            "history": state.history,
            "seconds": time.time() - state.started,
            "stopped": state.stopped,
            "config": self.config.to_dict(),  # what --resume checks config.json against
        }

    def finish(self, state: "TrainingProgress") -> dict[str, Any]:
        """The best weights restored (and written), every user's valid and test rank, and the results."""
        config, stopper, writes = self.config, state.stopper, self.folder is not None and self.writes
        best_sha256 = None
        if self.model.trainable:
            self.model.load_state_dict(stopper.best_state)
            if writes:
                best_sha256 = file_sha256(io.torch_save(self.folder.file(RunFolder.BEST), stopper.best_state))
        ranks = {"valid": self.ranks("valid")}
        if self.cold is not None:
            self.add_cold_items()
        ranks["test"] = self.ranks("test")
        if self.cold is not None:  # the test users by their target: held out of training, or not
            cold = self.cold.is_cold(self.split.test_targets)
            ranks["test_cold"], ranks["test_warm"] = ranks["test"][cold], ranks["test"][~cold]
        if writes:  # per-user ranks, for paired tests between runs (significance.py)
            io.save_ranks(self.folder.file(RunFolder.RANKS), **ranks)
        metrics = {stage: metrics_from_ranks(r, config.evaluation.topk) for stage, r in ranks.items()}
        return {
            "dataset": config.dataset,
            "model": config.model,
            "config": config.to_dict(),
            "best_epoch": stopper.best_epoch if self.model.trainable else 0,
            **metrics,  # valid, test (and test_cold, test_warm)
            **self.cold_counts(ranks),
            "history": state.history,
            "seconds": time.time() - state.started,
            "seconds_to_best_epoch": sum(h["seconds"] for h in state.history[: stopper.best_epoch]),
            "softmax_calls": dict(self.model.softmax.calls),  # training losses by how they were computed
            "train_rows": int(len(self.windows)),
            "train_targets": int((self.windows[:, :-1] != 0).sum()),
            "mask_history": config.evaluation.mask_history,
            "best_sha256": best_sha256,  # of best.pt's bytes: a trained model refuses a changed or corrupt file
            "versions": versions(),
            "machine": machine(config.training.device),
        }
