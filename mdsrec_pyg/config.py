"""One flat configuration for every run, per-dataset defaults from ``configs/<dataset>.json``, ``--set`` overrides.

Precedence: dataclass defaults < the dataset's file < explicit command-line flags and ``--set key=value``.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import InputError


@dataclass
class Config:
    # what to run
    dataset: str = "synthetic"
    model: str = "mdsrec"
    data_dir: str = "data"
    feature_dir: str = "data/features"
    seed: int = 42
    device: str = "cpu"
    threads: int = 0  # CPU threads (0: the cores no other process keeps busy, see threads.py); not part of a
    # run's identity: runs that differ only in it are the same experiment (same_config)
    # data and split
    max_len: int = 50
    # sequence encoder (SASRec defaults as MISSRec used them on these datasets)
    hidden_size: int = 300
    num_layers: int = 2
    num_heads: int = 4
    inner_size: int = 256
    dropout: float = 0.5
    # optimisation
    lr: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 512
    epochs: int = 200
    patience: int = 10
    valid_metric: str = "ndcg@20"
    softmax: str = "full"  # the loss over items: full, chunked (same gradient, bounded memory) or sampled
    softmax_chunk: int = 8192  # items per chunk of the chunked softmax
    negatives: int = 1000  # items drawn per batch by the sampled softmax (log-Q corrected)
    # evaluation
    topk: list[int] = field(default_factory=lambda: [10, 20])
    mask_history: bool = False
    eval_batch_size: int = 1024
    item_chunk: int = 65536
    # MDSRec (the paper's settings; per-dataset H and k come from configs/<dataset>.json)
    modalities: list[str] = field(default_factory=list)  # empty: every modality the dataset has
    ablation: str = ""  # "", no_dis, no_cre, no_mrgc, no_ica (Table 3)
    mu_id: float = 16.0  # Eq. 3, ID embeddings
    mu_m: float = 0.2  # Eq. 3, modal features
    cooc_norm: str = "lightgcn"  # operator applied to O before Eq. 3
    cooc_window: int = 0  # largest position distance counted in O (0: no cap)
    H: int = 10  # Eq. 5 neighbours
    graph_operator: str = "mean"  # operator applied to Â^m before Eq. 6
    knn_method: str = "auto"  # exact, nndescent or auto (by catalog size)
    adjacency_layout: str = "auto"  # csr, sparse_tensor, edge_index or auto
    graph_dir: str = "graphs"
    k: int = 32  # Eq. 10 interest centres
    centre_norm: str = "mean"  # C^m rows: mean (centroid of members) or sum
    tau: float = 1.0  # Eq. 19 Gumbel-softmax temperature
    rho: list[float] = field(default_factory=list)  # Eq. 17/22/23 modality weights; empty: equal, summing to 1
    share_modal_encoder: bool = False  # one transformer for all modal streams
    modal_positions: float = 1.0  # fraction of a batch's positions with ICA + modal losses in training (1: all)
    # baselines
    gru_layers: int = 1  # GRU4Rec(F)
    mask_prob: float = 0.2  # BERT4Rec cloze masking
    experts: int = 8  # UniSRec mixture-of-experts adaptor
    unisrec_inductive: bool = False  # UniSRec without ID embeddings
    interests: int = 4  # MISSRec interest tokens

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def override(self, key: str, value: Any, source: str = "--set") -> None:
        """Set one field from a string or a typed value, with a clear error for an unknown key or bad value."""
        types = {f.name: f.type for f in fields(self)}
        if key not in types:
            raise InputError(source, f"unknown config key {key!r}; known keys: {', '.join(sorted(types))}")
        setattr(self, key, _coerce(getattr(self, key), value, f"{source} {key}"))


def _coerce(current: Any, value: Any, where: str) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if isinstance(current, bool):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(value)
            return value.lower() in ("true", "1")
        if isinstance(current, int):
            return int(value)
        if isinstance(current, float):
            return float(value)
        if isinstance(current, list):
            parse = {"topk": int, "rho": float}.get(where.rsplit(" ", 1)[-1], str)
            return [parse(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InputError(where, f"expected a value of type {type(current).__name__}, got {value!r}") from None
    return value


RUNTIME_KEYS = ("threads",)  # how a run is executed, not what it computes


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON (``.json``) or YAML (any other name) file: a mapping of config keys (and
    ``dataset`` / ``model``) to values; one-line errors for a missing, unreadable or malformed file."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    text = path.read_text(encoding="utf-8-sig")
    try:
        if path.suffix == ".json":
            values = json.loads(text)
        else:
            import yaml

            values = yaml.safe_load(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err.msg} at line {err.lineno})") from None
    except Exception as err:  # yaml.YAMLError and its subclasses
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(path, f"not valid YAML ({getattr(err, 'problem', None) or err}{where})") from None
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(path, f"expected a mapping of settings (key: value), got a {type(values).__name__}")
    known = {f.name for f in fields(Config)}
    unknown = sorted(str(k) for k in values if k not in known)
    if unknown:
        raise InputError(path, f"unknown config key {unknown[0]!r}; known keys: {', '.join(sorted(known))}")
    return dict(values)


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The paper's settings for ``dataset`` (``configs/<dataset>.json`` in the package), or ``{}``."""
    path = resources.files("mdsrec_pyg") / "configs" / f"{dataset}.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


def build_config(dataset: str, overrides: dict[str, Any] | None = None, sets: list[str] | None = None) -> Config:
    """Defaults, then the dataset's file, then ``overrides`` (typed), then ``sets`` (``key=value`` strings)."""
    config = Config(dataset=dataset)
    for key, value in dataset_defaults(dataset).items():
        config.override(key, value, source=f"configs/{dataset}.json")
    for key, value in (overrides or {}).items():
        config.override(key, value)
    for item in sets or []:
        if "=" not in item:
            raise InputError("--set", f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        config.override(key.strip(), value.strip())
    return config
