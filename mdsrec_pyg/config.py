"""The configuration of a run, in sections a reader can hold in mind, each field declaring its rule once.

- ``data``: where the dataset lies and what of it the models read;
- ``training``: the seed, the device and the optimisation;
- ``evaluation``: the metrics and how the catalog is ranked;
- ``graphs``: the relation-graph stage (``graphs/relations.py``), present only for a model that builds it;
- ``options``: the model's own options, a dataclass registered with the model (``Model.Options``), so that a
  baseline receives none of MDSRec's knobs. Saved under the model's name (``"mdsrec": {...}``).

A setting is addressed as ``section.key`` (``training.lr``), ``<model>.key`` or ``model.key`` (``mdsrec.tau``),
or by its bare key where that names one place (``lr``, ``H``). Precedence: the defaults here < the dataset's
``configs/<name>.json`` < explicit overrides (flags, a config file) < ``--set key=value``. The whole
configuration is checked by :func:`validate` before any data is read.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Collection

from .errors import InputError, shorten
from .names import dataset_name

METRIC_NAMES = ("recall", "ndcg", "hit", "mrr", "precision")  # what the evaluator reports at every K of topk

Check = Callable[[Any], bool]
Rule = tuple[Check, "str | Callable[[], str]"]  # the check and what it expects (text, or made when needed)


# ----- rules -----
def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def integer(low: int, high: int | None = None) -> Rule:
    """An int in [low, high]."""
    text = f"an integer >= {low}" if high is None else f"an integer in [{low}, {high}]"
    return (lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= low and (high is None or v <= high), text)


def real(low: float, high: float | None = None, low_open: bool = False, high_open: bool = False) -> Rule:
    """A finite number in the interval given (open or closed at each end)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    bound = f"{'>' if low_open else '>='} {low}"
    text = f"a number in {left}{low}, {high}{right}" if high is not None else f"a number {bound}"

    def check(v: Any) -> bool:
        return (
            _number(v)
            and (v > low if low_open else v >= low)
            and (high is None or (v < high if high_open else v <= high))
        )

    return check, text


def one_of(*choices: str) -> Rule:
    return (lambda v: v in choices), "one of " + ", ".join(repr(c) for c in choices)


OPTIMIZERS = ("adam", "lazy_adam")  # training.optimizer (optim.py)

# ----- names registered by the code that implements them -----
NAMES: dict[str, Collection[str]] = {}  # "softmax" (losses.py), and what other parts register
MODELS: dict[str, Any] = {}  # model name -> its class (``models/__init__.py`` registers them, in table order)


def register_names(kind: str, names: Collection[str]) -> None:
    """Make ``names`` (a live collection: a dict filled later counts) the accepted values of ``kind``."""
    NAMES[kind] = names


def register_models(models: dict[str, Any]) -> None:
    """The models by name, each a class with ``Options`` (its options dataclass) and ``Graphs`` (the settings
    class of the relation-graph stage it is built from, or None)."""
    MODELS.clear()
    MODELS.update(models)


def named(names: Callable[[], Collection[str]]) -> Rule:
    """One of the names ``names()`` gives when checked (graph operators can be registered at run time)."""
    return (lambda v: v in names()), (lambda: "one of " + ", ".join(repr(c) for c in names()))


def registered(kind: str) -> Rule:
    """One of the names registered for ``kind``."""
    return named(lambda: NAMES.get(kind, ()))


def model_class(model: str) -> Any:
    """The class registered for ``model``; one line for an unknown name."""
    if not MODELS:
        raise RuntimeError("no models are registered: import mdsrec_pyg.models first")
    if model not in MODELS:
        raise InputError("--model", f"unknown model {shorten(model)}; expected one of {', '.join(MODELS)}")
    return MODELS[model]


def weights() -> Rule:
    """A list of finite weights >= 0, not all 0 (empty: the model's own default)."""
    return (
        lambda v: isinstance(v, list) and all(_number(r) and r >= 0 for r in v) and (not v or sum(v) > 0),
        "a list of weights >= 0, not all 0 (empty: equal)",
    )


def boolean() -> Rule:
    return (lambda v: isinstance(v, bool)), "true or false"


def folder_path(description: str) -> Rule:
    """A path that is a folder where it exists (it may be made later)."""
    return (lambda v: isinstance(v, str) and v.strip() != "" and not Path(v).is_file()), description


def distinct_names(description: str) -> Rule:
    return (
        lambda v: isinstance(v, list) and all(isinstance(m, str) and m for m in v) and len(set(v)) == len(v),
        description,
    )


def setting(default: Any, rule: Rule, item: type = str) -> Any:
    """A config field: its default and its rule; a list's ``item`` type parses ``a,b,c`` (a list default is
    copied for every config)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"rule": rule, "item": item})
    return field(default=default, metadata={"rule": rule})


class NotHeld(InputError):
    """A known setting that this run does not have: another model's option, or a graph setting of a model that
    builds no graphs."""


# ----- sections -----
@dataclass
class DataConfig:
    """Where the dataset and the store of its built graphs lie, and what of it the models read."""

    data_dir: str = setting("data", folder_path("a folder that holds the datasets"))
    feature_dir: str = setting("data/features", folder_path("a folder for extra feature files"))
    graph_dir: str = setting("graphs", folder_path("a folder for the graph store"))  # built relation graphs
    max_len: int = setting(50, integer(1))  # the last max_len items of a sequence
    modalities: list[str] = setting([], distinct_names("a list of distinct modality names (empty: all)"))
    cold_items: float = setting(0.0, real(0.0, 1.0, high_open=True))  # share held out of training (data/cold.py)
    cold_seed: int = setting(0, integer(0, 2**32 - 1))  # draws the held-out items, the same for every model
    cold_id_embedding: str = setting("zero", one_of("zero", "neighbours"))  # a held-out item's E^id at the test


@dataclass
class TrainingConfig:
    """The seed, where a run executes and the optimisation."""

    seed: int = setting(42, integer(0, 2**32 - 1))
    device: str = setting(
        "cpu",
        (
            (lambda v: isinstance(v, str) and re.fullmatch(r"cpu|mps|cuda(:\d+)?", v) is not None),
            "cpu, cuda, cuda:N or mps",
        ),
    )
    threads: int = setting(0, integer(0))  # CPU threads (0: the cores no other process keeps busy, threads.py)
    keep_freed_memory: bool = setting(False, boolean())  # malloc reuses freed tensors' memory (allocator.py)
    lr: float = setting(1e-3, real(0.0, 1.0, low_open=True))
    weight_decay: float = setting(0.0, real(0.0))
    batch_size: int = setting(512, integer(1))
    epochs: int = setting(200, integer(1))
    patience: int = setting(10, integer(1))
    softmax: str = setting("full", registered("softmax"))  # the loss over items: full, chunked or sampled
    softmax_chunk: int = setting(8192, integer(1))  # items per chunk of the chunked softmax
    logits_budget_mb: int = setting(1024, integer(1))  # MiB of logits a full softmax holds; past it, it streams
    negatives: int = setting(1000, integer(1))  # items drawn per batch by the sampled softmax (log-Q corrected)
    optimizer: str = setting("adam", one_of(*OPTIMIZERS))  # adam, or lazy_adam: the item rows a step uses (optim.py)


@dataclass
class EvaluationConfig:
    """Full ranking of the catalog: the metrics, the one that picks the best epoch, and the batch sizes."""

    topk: list[int] = setting(
        [10, 20],
        (
            (
                lambda v: (
                    isinstance(v, list)
                    and len(v) > 0
                    and all(isinstance(k, int) and not isinstance(k, bool) and k >= 1 for k in v)
                    and len(set(v)) == len(v)
                )
            ),
            "a non-empty list of distinct integers >= 1",
        ),
        item=int,
    )
    valid_metric: str = setting(
        "ndcg@20",
        (
            (lambda v: isinstance(v, str) and re.match(rf"^({'|'.join(METRIC_NAMES)})@\d+$", v) is not None),
            f"a metric@K of {', '.join(METRIC_NAMES)} with K in topk",
        ),
    )
    mask_history: bool = setting(False, boolean())
    eval_batch_size: int = setting(1024, integer(1))
    item_chunk: int = setting(65536, integer(1))


@dataclass
class Options:
    """A model's own options; each model registers a subclass as ``Options`` (none for most popular)."""

    def check(self, config: "Config") -> None:
        """Checks across fields, after every field has passed its rule."""


# How a run is executed, not what it computes: a finished run is reused whatever its device, threads and
# allocator (a GPU run differs from a CPU one only by floating-point rounding; results.json records where it ran)
RUNTIME_KEYS = ("threads", "device", "keep_freed_memory")
# Where a run's data and graph store lie, not what it computes (data.json records the data's fingerprint)
LOCATION_KEYS = ("data_dir", "feature_dir", "graph_dir")

# Table 3's variants as presets of its four switches (they combine freely in any run): name -> (label, settings)
TABLE3_VARIANTS: dict[str, tuple[str, dict[str, bool]]] = {
    "no_dis": ("w/o DIS", {"dis": False}),
    "no_cre": ("w/o CRE", {"cre": False}),
    "no_mrgc": ("w/o MRGC", {"mrgc": False}),
    "no_ica": ("w/o ICA", {"ica": False}),
    "mdsrec": ("MDSRec", {}),
}
# The flat config.json form (every setting at the top level, no sections): its one ``ablation`` name is one of
# Table 3's variants ("" the full model), and one key has another name there
FLAT_ABLATIONS = {"": {}, **{name: settings for name, (_, settings) in TABLE3_VARIANTS.items()}}
FLAT_NAMES = {"unisrec_inductive": "inductive"}


def model_options(model: str) -> type[Options]:
    """The options class registered with ``model``."""
    return model_class(model).Options


def graph_settings() -> type | None:
    """The settings class of the relation-graph stage, as the models built from it register it."""
    return next((cls.Graphs for cls in MODELS.values() if cls.Graphs is not None), None)


def leaves(section: Any) -> dict[str, Any]:
    """The fields of one section (a dataclass instance), by name."""
    return {f.name: getattr(section, f.name) for f in fields(section)}


@dataclass
class Config:
    dataset: str = "synthetic"
    model: str = "mdsrec"
    data: DataConfig = field(default_factory=DataConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    graphs: Any = None  # the relation-graph stage's settings (graphs/settings.py), for a model built from it
    options: Options = field(default_factory=Options)

    @classmethod
    def for_model(cls, dataset: str, model: str) -> "Config":
        """The defaults for ``model`` on ``dataset``, before the dataset's file and any override."""
        model_cls = model_class(model)
        graphs = model_cls.Graphs() if model_cls.Graphs is not None else None
        return cls(dataset, model, graphs=graphs, options=model_cls.Options())

    def sections(self) -> dict[str, Any]:
        """The sections this config has, by the name they are saved and addressed under."""
        present = {"data": self.data, "training": self.training, "evaluation": self.evaluation}
        if self.graphs is not None:
            present["graphs"] = self.graphs
        return {**present, self.model: self.options}

    def to_dict(self) -> dict[str, Any]:
        """The saved form: ``{"dataset", "model", "data": {...}, ..., "<model>": {options}}``."""
        return {
            "dataset": self.dataset,
            "model": self.model,
            **{name: dataclasses.asdict(section) for name, section in self.sections().items()},
        }

    def flat(self) -> dict[str, Any]:
        """Every setting by its bare key (the keys are distinct across the sections)."""
        values = {"dataset": self.dataset, "model": self.model}
        for section in self.sections().values():
            values.update(leaves(section))
        return values

    def locate(self, key: str, source: str = "--set") -> tuple[Any, str]:
        """The section that holds ``key`` (``section.key``, ``<model>.key``, ``model.key`` or a bare key) and
        the bare key; one line naming what the key is where it is not a setting of this run."""
        sections = self.sections()
        if "." in key:
            name, leaf = key.split(".", 1)
            name = self.model if name == "model" else name
            if name in sections and leaf in leaves(sections[name]):
                return sections[name], leaf
            if name in MODELS and name != self.model and leaf in model_options(name).__dataclass_fields__:
                raise NotHeld(source, f"{key}: an option of model {name}, and this run's model is {self.model}")
            if name == "graphs" and leaf in getattr(graph_settings(), "__dataclass_fields__", {}):
                raise NotHeld(source, f"{key}: model {self.model} builds no relation graphs")
            raise InputError(source, f"unknown config key {key!r}; known keys: {', '.join(self.known_keys())}")
        held = [s for s in sections.values() if key in leaves(s)]
        if held:
            return held[0], key
        if key in getattr(graph_settings(), "__dataclass_fields__", {}):
            raise NotHeld(
                source,
                f"{key}: a setting of the relation graphs (graphs.{key}), which model {self.model} does not build",
            )
        owners = [m for m in MODELS if key in model_options(m).__dataclass_fields__]
        if owners:
            raise NotHeld(
                source, f"{key}: an option of model {', '.join(owners)}, not of this run's model {self.model}"
            )
        raise InputError(source, f"unknown config key {key!r}; known keys: {', '.join(self.known_keys())}")

    def known_keys(self) -> list[str]:
        return [f"{name}.{leaf}" for name, section in self.sections().items() for leaf in leaves(section)]

    def get(self, key: str) -> Any:
        section, leaf = self.locate(key)
        return getattr(section, leaf)

    def override(self, key: str, value: Any, source: str = "--set") -> None:
        """Set one setting from a string or a typed value; one line for an unknown key or a bad value."""
        if key in ("dataset", "model"):
            raise InputError(source, f"{key} is chosen with --{key}, not --set")
        section, leaf = self.locate(key, source)
        item = section.__dataclass_fields__[leaf].metadata.get("item", str)
        setattr(section, leaf, _coerce(getattr(section, leaf), value, f"{source} {key}", item))

    @classmethod
    def from_dict(cls, values: dict[str, Any], flat_form: bool = False) -> "Config":
        """The config of a saved dictionary (``to_dict``'s form). With ``flat_form``, also the flat form of
        early run folders (every setting at the top, ablations as one ``ablation`` name); there a setting this
        model does not have is dropped (flat configs carried every model's knobs) and a missing one is its
        default. Not validated: :func:`validate` checks."""
        config = cls.for_model(values.get("dataset", "synthetic"), values.get("model", "mdsrec"))
        for key, value in values.items():
            if key in ("dataset", "model"):
                continue
            if isinstance(value, dict) and key in config.sections():
                for leaf, v in value.items():
                    config.override(f"{key}.{leaf}", v, source="config")
            elif flat_form:
                changes = FLAT_ABLATIONS.get(value, {}) if key == "ablation" else {FLAT_NAMES.get(key, key): value}
                for leaf, v in changes.items():
                    try:
                        config.override(leaf, v, source="config")
                    except NotHeld:  # a knob of another model, or of graphs this model does not build
                        continue
            else:
                config.override(key, value, source="config")
        return config


def _coerce(current: Any, value: Any, where: str, item: type = str) -> Any:
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
            return [item(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise InputError(where, f"expected a value of type {type(current).__name__}, got {shorten(value)}") from None
    return value


def field_rules(config: Config) -> dict[str, Rule]:
    """Every setting of ``config`` as ``section.key`` with its rule, in one place."""
    return {
        f"{name}.{f.name}": f.metadata["rule"] for name, section in config.sections().items() for f in fields(section)
    }


def validate(config: Config) -> Config:
    """Check every setting against its rule and the settings against each other; the first bad value is one
    line naming the key, the value and what is allowed. Reads no data."""
    if not isinstance(config.dataset, str) or not config.dataset.strip():
        raise InputError("setting dataset", f"got {shorten(config.dataset)}; expected a dataset name or folder")
    sections = config.sections()
    for key, (check, expected) in field_rules(config).items():
        name, leaf = key.split(".", 1)
        value = getattr(sections[name], leaf)
        if not check(value):
            expected = expected() if callable(expected) else expected
            raise InputError(f"setting {key}", f"got {shorten(value)}; expected {expected}")
    metric = config.evaluation.valid_metric
    if int(metric.split("@")[1]) not in config.evaluation.topk:
        raise InputError(
            "setting evaluation.valid_metric", f"got {metric!r}; its K is not in topk {config.evaluation.topk}"
        )
    check_cold_start(config)
    check_optimizer(config)
    config.options.check(config)
    return config


def check_cold_start(config: Config) -> None:
    """A cold-start run needs a model that scores items it never trained on, with the ID embedding asked for."""
    data = config.data
    if not data.cold_items:
        return
    embeddings = model_class(config.model).new_item_embeddings()
    if not embeddings:
        raise InputError(
            "setting data.cold_items",
            f"model {config.model} scores no item it did not train on (it reads no item features); expected "
            "pop or a model that reads features",
        )
    if data.cold_id_embedding not in embeddings:
        raise InputError(
            "setting data.cold_id_embedding",
            f"got {data.cold_id_embedding!r}; model {config.model} gives a new item {' or '.join(embeddings)}",
        )


def check_optimizer(config: Config) -> None:
    """Lazy Adam needs a step whose item gradient is sparse: the sampled softmax, no weight decay (SparseAdam
    has none) and a model that scores against its ID embedding table itself."""
    training, key = config.training, "setting training.optimizer"
    if training.optimizer != "lazy_adam":
        return
    if training.softmax != "sampled":
        raise InputError(
            key,
            f"lazy_adam updates the item rows a step uses, and with softmax={training.softmax} every row has a "
            "gradient every step; expected --set softmax=sampled",
        )
    if training.weight_decay:
        raise InputError(key, f"lazy_adam (SparseAdam) has no weight decay; got weight_decay={training.weight_decay:g}")
    if not model_class(config.model).sparse_item_table:
        able = [name for name, cls in MODELS.items() if getattr(cls, "sparse_item_table", False)]
        raise InputError(
            key,
            f"model {config.model} has no ID table read by the rows a step uses (its table is computed from "
            f"every item, or it trains none), so its item gradient is dense; lazy_adam takes {', '.join(able)}",
        )


SECTION_NAMES = ("data", "training", "evaluation", "graphs")  # and each model's name: its options


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The settings in a JSON (``.json``) or YAML (any other name) file: a mapping of keys (bare, or
    ``section.key``, or sections as nested mappings; and ``dataset`` / ``model``) to values; one-line errors
    naming the file for a missing, unreadable, non-UTF-8 or malformed file, a key given twice (also as ``lr``
    and ``training.lr``), a section that is not a mapping, and YAML aliases (refused: a few bytes of them can
    expand to gigabytes). The keys are checked by :func:`build_config`."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "config file not found")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(path, f"not UTF-8 text (byte {err.start}); save the file as UTF-8") from None
    except OSError as err:
        raise InputError(path, f"cannot be read ({err.strerror})") from None
    values = _parse_json(path, text) if path.suffix.lower() == ".json" else _parse_yaml(path, text)
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise InputError(path, f"expected a mapping of settings (key: value), got a {type(values).__name__}")
    flat: dict[str, Any] = {}
    for key, value in values.items():
        key = str(key)
        if isinstance(value, dict):  # a section as a nested mapping
            pairs = [(f"{key}.{leaf}", v) for leaf, v in value.items()]
        elif key in SECTION_NAMES or key in MODELS:
            raise InputError(path, f"{key} is a section; expected a mapping of its settings, got {shorten(value)}")
        else:
            pairs = [(key, value)]
        for name, v in pairs:
            bare = name.rsplit(".", 1)[-1]
            twice = [k for k in flat if k.rsplit(".", 1)[-1] == bare and (k == name or "." in k or "." in name)]
            if twice and bare not in ("dataset", "model"):
                raise InputError(path, f"{name!r} and {twice[0]!r} both set {bare}; give it once")
            flat[name] = v
    return flat


def _parse_json(path: Path, text: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        repeated = next((k for k in keys if keys.count(k) > 1), None)
        if repeated is not None:
            raise InputError(path, f"key {repeated!r} is given twice; give it once")
        return dict(pairs)

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as err:
        raise InputError(path, f"not valid JSON ({err.msg} at line {err.lineno})") from None


def _parse_yaml(path: Path, text: str) -> Any:
    import yaml

    class Loader(yaml.SafeLoader):
        """Safe YAML without aliases and without a key given twice."""

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                mark = self.peek_event().start_mark
                raise InputError(path, "YAML aliases (*name) are not accepted; write the value out", mark.line + 1)
            return super().compose_node(parent, index)

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if key in seen:
                    raise InputError(path, f"key {key!r} is given twice; give it once", key_node.start_mark.line + 1)
                seen.add(key)
            return super().construct_mapping(node, deep)

    try:
        return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise InputError(path, f"not valid YAML ({getattr(err, 'problem', None) or err}{where})") from None


def dataset_defaults(dataset: str) -> dict[str, Any]:
    """The paper's settings for ``dataset`` by its resolved name (a folder path counts by its last part:
    ``path/to/clothing`` is clothing), from the package's own ``configs/<name>.json`` only, or ``{}``."""
    folder = resources.files("mdsrec_pyg") / "configs"
    known = {entry.name for entry in folder.iterdir()}
    name = f"{dataset_name(dataset)}.json"
    return json.loads((folder / name).read_text()) if name in known else {}


def build_config(
    dataset: str,
    overrides: dict[str, Any] | None = None,
    sets: list[str] | None = None,
    where_held: bool = False,
    file: tuple[str, dict[str, Any]] | None = None,
) -> Config:
    """Defaults for the model (``overrides["model"]``, else mdsrec), then the dataset's file (the settings this
    model has), then a config ``file`` (its path, which errors name, and its settings), then ``overrides``
    (typed, any key form), then ``sets`` (``key=value`` strings); validated.
    A known setting the model does not have is one line, or, with ``where_held`` (scripts that give the same
    settings to several models), passed over; an unknown key is one line either way."""
    overrides = dict(overrides or {})
    config = Config.for_model(dataset, overrides.pop("model", "mdsrec"))
    overrides.pop("dataset", None)

    def apply(key: str, value: Any, source: str, skip: bool) -> None:
        try:
            config.override(key, value, source)
        except NotHeld:
            if not skip:
                raise

    for key, value in dataset_defaults(dataset).items():  # H for a baseline, the width for pop: passed over
        apply(key, value, f"configs/{dataset_name(dataset)}.json", skip=True)
    if file is not None:  # (its path, its settings as read_config_file gives them): errors name the file
        for key, value in file[1].items():
            if key not in ("dataset", "model"):
                apply(key, value, file[0], where_held)
    for key, value in overrides.items():
        apply(key, value, "--set", where_held)
    for item in sets or []:
        if "=" not in item:
            raise InputError("--set", f"expected key=value, got {item!r}")
        key, value = item.split("=", 1)
        apply(key.strip(), value.strip(), "--set", where_held)
    return validate(config)
