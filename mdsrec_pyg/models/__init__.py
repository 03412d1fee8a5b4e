"""Models by name: every model keeps the contract of :class:`SequentialRecommender`."""

from __future__ import annotations

import torch

from ..config import Config, model_class, register_models
from ..data import LeaveOneOutSplit, SequentialDataset
from ..graphs.relations import RelationGraphs, build_relation_graphs
from ..graphs.store import GraphStore
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

MODELS: dict[str, type[SequentialRecommender]] = {  # the one list of models, in the order of Table 2
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
register_models(MODELS)


def build_model(
    config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, graphs: RelationGraphs | None = None
) -> SequentialRecommender:
    """The model ``config`` names with its loss over items (``training.softmax``), its weights initialised from
    ``training.seed``; ``graphs`` is the relation-graph stage's output for a model built from it (see
    :func:`model_and_graphs`)."""
    cls = model_class(config.model)
    training = config.training
    counts = torch.as_tensor(split.train_item_counts(dataset.num_items)) if training.softmax == "sampled" else None
    softmax = ItemSoftmax(
        training.softmax, training.softmax_chunk, training.negatives, counts, training.logits_budget_mb
    )
    seed_everything(training.seed)  # the same seed gives the same initial weights
    return cls.build(config, dataset, split, softmax, graphs)


def model_and_graphs(
    config: Config, dataset: SequentialDataset, split: LeaveOneOutSplit, store: GraphStore | None = None
) -> tuple[Config, SequentialRecommender]:
    """The stages after the split: the relation graphs (for a model built from them), then the model. Returns
    the run's one configuration (its graph settings as the stage used them) with the model."""
    graphs = build_relation_graphs(config, dataset, split, store)
    if graphs is not None:
        config = graphs.config_of(config)
    return config, build_model(config, dataset, split, graphs)


def list_models() -> str:
    """Every model with its one-line description (``run.py --list models``)."""
    width = max(map(len, MODELS))
    return "\n".join(f"{name:<{width}}  {cls.description}" for name, cls in MODELS.items())


__all__ = [
    "ItemTableRecommender",
    "MDSRec",
    "MODELS",
    "MostPopular",
    "SASRec",
    "SequentialRecommender",
    "build_model",
    "list_models",
    "model_and_graphs",
]
