"""One flat configuration for every run, per-dataset defaults from ``configs/<dataset>.json``, ``--set`` overrides.

Precedence: dataclass defaults < the dataset's file < explicit command-line flags and ``--set key=value``.
"""
from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from .errors import InputError
from .names import MODEL_NAMES, dataset_name


@dataclass
class Config:
    # what to run
    dataset: str = "synthetic"
    model: str = "mdsrec"
    data_dir: str = "data"
    feature_dir: str = "data/features"
    seed: int = 42
    device: str = "cpu"
    threads: int = 0  # CPU threads (0: the cores no other process keeps busy, see threads.py); threads and
    # device are not part of a run's identity: runs that differ only in them are the same experiment
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


# How a run is executed, not what it computes: a finished run is reused whatever its device and threads (a GPU
# run differs from a CPU one only by floating-point rounding; results.json records where it ran)
RUNTIME_KEYS = ("threads", "device")

Check = Callable[[Any], bool]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(low: int, high: int | None = None) -> tuple[Check, str]:
    """An int in [low, high]."""
    text = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high),
            text)


def real(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False
         ) -> tuple[Check, str]:
    """A finite number in the interval given (open or closed at each end)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    bound = f"{'>' if low_open else '>='} {low}"
    text = f"a number in {left}{low}, {high}{right}" if high is not None else f"a number {bound}"

    def check(v: Any) -> bool:
        return (_number(v) and (v > low if low_open else v >= low)
                and (high is None or (v < high if high_open else v <= high)))

    return check, text


def one_of(*choices: str) -> tuple[Check, str]:
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


def boolean() -> tuple[Check, str]:
    return (lambda v: isinstance(v, bool)), "true or false"


def text(description: str) -> tuple[Check, str]:
    return (lambda v: isinstance(v, str) and v.strip() != ""), description


def folder_path(description: str) -> tuple[Check, str]:
    """A path that is a folder where it exists (it may be made later)."""
    return (lambda v: isinstance(v, str) and v.strip() != "" and not Path(v).is_file()), description


def choices_of_registries() -> dict[str, tuple[str, ...]]:
    """The allowed names that live with their code (graph operators can be registered at run time)."""
    from .graphs.knn import METHODS
    from .losses import KINDS
    from .models.mdsrec import ABLATIONS
    from .nn.propagation import LAYOUTS, OPERATORS

    return {"softmax": KINDS, "ablation": ABLATIONS, "operators": tuple(sorted(OPERATORS)), "layouts": LAYOUTS,
            "knn": METHODS}


def field_rules() -> dict[str, tuple[Check, str]]:
    """Every field of :class:`Config` with its check and what it expects, in one place."""
    names = choices_of_registries()
    metric = re.compile(r"^(recall|ndcg|hit|mrr|precision)@\d+$")
    return {
        "dataset": text("a dataset name or folder"),
        "model": one_of(*MODEL_NAMES),
        "data_dir": folder_path("a folder that holds the datasets"),
        "feature_dir": folder_path("a folder for extra feature files"),
        "seed": integer(0, 2**32 - 1),
        "device": ((lambda v: isinstance(v, str) and re.fullmatch(r"cpu|mps|cuda(:\d+)?", v) is not None),
                   "cpu, cuda, cuda:N or mps"),
        "threads": integer(0),
        "max_len": integer(1),
        "hidden_size": integer(1),
        "num_layers": integer(1),
        "num_heads": integer(1),
        "inner_size": integer(1),
        "dropout": real(0.0, 1.0, high_open=True),
        "lr": real(0.0, 1.0, low_open=True),
        "weight_decay": real(0.0),
        "batch_size": integer(1),
        "epochs": integer(1),
        "patience": integer(1),
        "valid_metric": ((lambda v: isinstance(v, str) and metric.match(v) is not None),
                         "a metric@K of recall, ndcg, hit, mrr, precision with K in topk"),
        "softmax": one_of(*names["softmax"]),
        "softmax_chunk": integer(1),
        "negatives": integer(1),
        "topk": ((lambda v: isinstance(v, list) and len(v) > 0 and all(
            isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in v) and len(set(v)) == len(v)),
                 "a non-empty list of distinct integers >= 1"),
        "mask_history": boolean(),
        "eval_batch_size": integer(1),
        "item_chunk": integer(1),
        "modalities": ((lambda v: isinstance(v, list) and all(isinstance(m, str) and m for m in v)
                        and len(set(v)) == len(v)), "a list of distinct modality names (empty: all)"),
        "ablation": one_of(*names["ablation"]),
        "mu_id": real(0.0),
        "mu_m": real(0.0),
        "cooc_norm": one_of(*names["operators"]),
        "cooc_window": integer(0),
        "H": integer(0),
        "graph_operator": one_of(*names["operators"]),
        "knn_method": one_of(*names["knn"]),
        "adjacency_layout": one_of(*names["layouts"]),
        "graph_dir": folder_path("a folder for the graph store"),
        "k": integer(1),
        "centre_norm": one_of("mean", "sum"),
        "tau": real(0.0, low_open=True),
        "rho": ((lambda v: isinstance(v, list) and all(_number(r) and r >= 0 for r in v)
                 and (not v or sum(v) > 0)), "a list of weights >= 0, not all 0 (empty: equal)"),
        "share_modal_encoder": boolean(),
        "modal_positions": real(0.0, 1.0, low_open=True),
        "gru_layers": integer(1),
        "mask_prob": real(0.0, 1.0, low_open=True, high_open=True),
        "experts": integer(1),
        "unisrec_inductive": boolean(),
        "interests": integer(1),
    }


def validate(config: Config) -> Config:
    """Check every field against :func:`field_rules` and the fields against each other; the first bad value
    is one line naming the key, the value and what is allowed. Reads no data."""
    rules = field_rules()
    for f in fields(config):
        check, expected = rules[f.name]
        value = getattr(config, f.name)
        if not check(value):
            raise InputError(f"setting {f.name}", f"got {value!r}; expected {expected}")
    if config.hidden_size % config.num_heads:
        raise InputError("setting num_heads", f"got {config.num_heads}; expected a divisor of hidden_size "
                                              f"{config.hidden_size}")
    if int(config.valid_metric.split("@")[1]) not in config.topk:
        raise InputError("setting valid_metric", f"got {config.valid_metric!r}; its K is not in topk {config.topk}")
    if config.rho and config.modalities and len(config.rho) != len(config.modalities):
        raise InputError("setting rho", f"got {config.rho}; expected one weight per modality of {config.modalities}")
    return config


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
    """The paper's settings for ``dataset`` by its resolved name (a folder path counts by its last part:
    ``path/to/clothing`` is clothing), from the package's own ``configs/<name>.json`` only, or ``{}``."""
    name = dataset_name(dataset)
    path = resources.files("mdsrec_pyg") / "configs" / f"{name}.json"
    if not name or not path.is_file():
        return {}
    return json.loads(path.read_text())


def build_config(dataset: str, overrides: dict[str, Any] | None = None, sets: list[str] | None = None) -> Config:
    """Defaults, then the dataset's file, then ``overrides`` (typed), then ``sets`` (``key=value`` strings)."""
    config = Config(dataset=dataset)
    for key, value in dataset_defaults(dataset).items():
        config.override(key, value, source=f"configs/{dataset_name(dataset)}.json")
    for key, value in (overrides or {}).items():
        config.override(key, value)
    for item in sets or []:
        if "=" not in item:
            raise InputError("--set", f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        if key.strip() in ("dataset", "model"):
            raise InputError("--set", f"{key.strip()} is chosen with --{key.strip()}, not --set")
        config.override(key.strip(), value.strip())
    return validate(config)
