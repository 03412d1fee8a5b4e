"""The training loop: Adam, full-softmax cross-entropy, early stopping on a validation metric, best weights
restored for the test, results and the best checkpoint written atomically."""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import platform
import subprocess
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
from .errors import InputError, TrainingError
from .evaluate import metrics_from_ranks, target_ranks, trim_left_padding
from .hashing import file_sha256, fingerprint
from .models.base import SequentialRecommender
from .progress import progress
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


def versions() -> dict[str, str | None]:
    """Library versions and the project's commit (see :func:`source_commit`)."""
    import torch_geometric

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "torch_geometric": torch_geometric.__version__,
        "commit": source_commit(),
    }


def source_commit() -> str | None:
    """The git commit of the checkout this package runs from (``-dirty`` with uncommitted changes to tracked
    files); for a copy without ``.git`` (say, one sent to a GPU machine) the ``MDSREC_COMMIT`` environment
    variable; else None."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10
        )
        if head.returncode == 0:
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout.strip()
            return head.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return os.environ.get("MDSREC_COMMIT") or None


def machine(device: str) -> dict[str, Any]:
    """Where a run executed: host processor, core count and, on a GPU, its name."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return info


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


def state_checksum(model_state: dict[str, torch.Tensor], epoch: int) -> str:
    """A hash of a checkpoint's weights and epoch (as the graph store checksums its graphs)."""
    return fingerprint(epoch, *[value for key in sorted(model_state) for value in (key, model_state[key])])


def read_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :meth:`Trainer.fit`, refused in one line when it cannot be read or its weights
    do not match their checksum (never silently resumed from)."""
    try:
        state = torch.load(path, weights_only=True)
        checksum = state.pop("checksum", None)
        epoch, model_state = state["epoch"], state["model"]
    except Exception as err:  # truncated, not a torch file, or not a checkpoint
        raise InputError(
            path, f"cannot be read as a checkpoint ({type(err).__name__}); it is corrupt: start the run again"
        ) from None
    if checksum is not None and checksum != state_checksum(model_state, epoch):
        raise InputError(path, "corrupt: its weights do not match their checksum; start the run again")
    return state


class Trainer:
    def __init__(
        self,
        model: SequentialRecommender,
        split: LeaveOneOutSplit,
        config: Config,
        num_items: int,
        out_dir: str | Path | None = None,
    ) -> None:
        self.model = model.to(config.training.device)
        self.engine = self.model  # what a training step calls: the model, or its DDP wrapper
        if distributed.is_distributed() and model.trainable:
            self.engine = DistributedDataParallel(self.model, forward_sync_buffers=False)
        self.split = split
        self.config = config
        self.num_items = num_items
        self.out_dir = Path(out_dir) if out_dir else None
        self.writes = distributed.is_main()  # with several ranks, rank 0 alone writes files
        self.windows = split.train_windows(config.data.max_len)
        self.window_lengths = (self.windows != 0).sum(1)

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

    def train_epoch(self, optimizer: torch.optim.Optimizer, rng: np.random.Generator, epoch: int) -> float:
        self.model.train()
        batches = bucketed_batches(self.window_lengths, self.config.training.batch_size, rng)
        rank, world = distributed.rank(), distributed.world_size()
        total, count = 0.0, 0
        steps = progress(batches, f"epoch {epoch}", unit="batch", enabled=rank == 0)
        for step, rows in enumerate(steps):
            if len(rows) < world:  # every rank needs a share of the batch
                continue
            rows = rows[rank::world]
            window = torch.as_tensor(trim_left_padding(self.windows[rows]), device=self.config.training.device)
            loss = self.engine(window[:, :-1], window[:, 1:])
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"loss became {loss.item()} at epoch {epoch}, step {step}; try a lower learning rate"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(rows)
            count += len(rows)
        total, count = distributed.sum_across_ranks(total, count)
        return total / max(count, 1)

    def fit(self, resume: dict[str, Any] | None = None) -> dict[str, Any]:
        """Train with early stopping, then test the best weights; returns the results dictionary.

        With an output folder, a checkpoint (model, optimiser, random states, early-stopping state, history)
        is written atomically after every epoch; ``resume`` (a checkpoint as :func:`read_checkpoint` returns
        it) continues from one, and the run then ends exactly as an uninterrupted one with the same seed would
        (on CPU)."""
        config = self.config
        seed_everything(config.training.seed)
        rng = np.random.default_rng(config.training.seed)
        history: list[dict[str, Any]] = []
        stopper = EarlyStopping(config.training.patience)
        first_epoch, elapsed, stopped = 1, 0.0, not self.model.trainable
        optimizer = None
        if self.model.trainable:
            optimizer = torch.optim.Adam(
                self.model.parameters(), lr=config.training.lr, weight_decay=config.training.weight_decay
            )
        checkpoint = self.out_dir / "checkpoint.pt" if self.out_dir else None
        if resume is not None:
            state = resume
            self.model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            rng.bit_generator.state = state["numpy_rng"]
            stopper = EarlyStopping(**state["early_stopping"])
            history, elapsed, stopped = state["history"], state["seconds"], state["stopped"]
            first_epoch = state["epoch"] + 1
            log.info("resumed from the checkpoint of epoch %d", state["epoch"])
        started = time.time() - elapsed
        for epoch in range(first_epoch, config.training.epochs + 1):
            if stopped:
                break
            tick = time.time()
            loss = self.train_epoch(optimizer, rng, epoch)
            train_seconds = time.time() - tick
            valid = self.evaluate("valid")
            record = {
                "epoch": epoch,
                "loss": loss,
                "train_seconds": train_seconds,
                "seconds": time.time() - tick,
                "valid": valid,
            }
            history.append(record)
            log.info(
                "epoch %3d  loss %.4f  %s  %.1fs",
                epoch,
                loss,
                "  ".join(f"{k} {v:.4f}" for k, v in valid.items() if k.startswith(("recall", "ndcg"))),
                record["seconds"],
            )
            stopped = stopper.update(valid[config.evaluation.valid_metric], epoch, self.model)
            if stopped:
                log.info(
                    "early stop: no better %s for %d epochs", config.evaluation.valid_metric, config.training.patience
                )
            if checkpoint and self.writes:
                model_state = self.model.state_dict()
                io.torch_save(
                    checkpoint,
                    {
                        "epoch": epoch,
                        "model": model_state,
                        "optimizer": optimizer.state_dict(),
                        "torch_rng": torch.get_rng_state(),
                        "numpy_rng": rng.bit_generator.state,
                        "early_stopping": dataclasses.asdict(stopper),
                        "history": history,
                        "seconds": time.time() - started,
                        "stopped": stopped,
                        "config": config.to_dict(),  # what --resume checks config.json against
                        "checksum": state_checksum(model_state, epoch),
                    },
                )
        best_sha256 = None
        if self.model.trainable:
            self.model.load_state_dict(stopper.best_state)
            if self.out_dir and self.writes:
                best_sha256 = file_sha256(io.torch_save(self.out_dir / "best.pt", stopper.best_state))
        ranks = {stage: self.ranks(stage) for stage in ("valid", "test")}
        if self.out_dir and self.writes:  # per-user ranks, for paired tests between runs (significance.py)
            io.save_ranks(self.out_dir / "ranks.npz", **ranks)
        valid, test = (metrics_from_ranks(ranks[stage], config.evaluation.topk) for stage in ("valid", "test"))
        return {
            "dataset": config.dataset,
            "model": config.model,
            "config": config.to_dict(),
            "best_epoch": stopper.best_epoch if self.model.trainable else 0,
            "valid": valid,
            "test": test,
            "history": history,
            "seconds": time.time() - started,
            "seconds_to_best_epoch": sum(h["seconds"] for h in history[: stopper.best_epoch]),
            "train_rows": int(len(self.windows)),
            "train_targets": int((self.windows[:, :-1] != 0).sum()),
            "mask_history": config.evaluation.mask_history,
            "best_sha256": best_sha256,  # of best.pt's bytes: a trained model refuses a changed or corrupt file
            "versions": versions(),
            "machine": machine(config.training.device),
        }
