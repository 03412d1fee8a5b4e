"""Models by name: every model keeps the contract of :class:`SequentialRecommender`."""

from __future__ import annotations

import torch

from ..config import Config
from ..data import LeaveOneOutSplit, SequentialDataset
from ..errors import InputError
from ..graphs.relations import RelationGraphs, build_relation_graphs
from ..losses import ItemSoftmax
from ..seed import seed_everything
from .base import ItemTableRecommender, MostPopular, SequentialRecommender
from .bert4rec import BERT4Rec
from .fdsa import FDSA
from .gru4rec import GRU4Rec, GRU4RecF
from .mdsrec import MDSRec
from .missrec import MISSRec
from .mmmlp import MMMLP
from .sasrec import SASRec, SASRecF
from .unisrec import UniSRec

MODELS: dict[str, type[SequentialRecommender]] = {
    "pop": MostPopular,
    # ID-based
    "gru4rec": GRU4Rec,
    "sasrec": SASRec,
    "bert4rec": BERT4Rec,
    # modality-based
    "gru4recf": GRU4RecF,
    "sasrecf": SASRecF,
    "fdsa": FDSA,
    "unisrec": UniSRec,
    "mmmlp": MMMLP,
    "missrec": MISSRec,
    "mdsrec": MDSRec,
}


def build_model(
    config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, graphs: RelationGraphs | None = None
) -> SequentialRecommender:
    """The model ``config`` names with its loss over items (``training.softmax``), its weights initialised from
    ``training.seed``; a model that needs relation graphs takes ``graphs`` when given (the stage's output),
    else builds them."""
    if config.model not in MODELS:
        raise InputError("--model", f"unknown model {config.model!r}; expected one of {', '.join(sorted(MODELS))}")
    cls = MODELS[config.model]
    if cls.needs_graphs and graphs is None:
        graphs = build_relation_graphs(config, dataset, split)
    training = config.training
    counts = torch.as_tensor(split.train_item_counts(dataset.num_items)) if training.softmax == "sampled" else None
    softmax = ItemSoftmax(training.softmax, training.softmax_chunk, training.negatives, counts)
    seed_everything(training.seed)  # the same seed gives the same initial weights
    if cls.needs_graphs:
        return cls.from_graphs(graphs, dataset.num_items, softmax)
    return cls.build(config, dataset, split, softmax)


__all__ = ["ItemTableRecommender", "MDSRec", "MODELS", "MostPopular", "SASRec", "SequentialRecommender", "build_model"]
