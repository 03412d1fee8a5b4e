"""A trained run -> recommendations by the dataset's original item ids.

    from mdsrec_pyg import Recommender
    rec = Recommender.load("runs/scientific_mm/mdsrec-42")
    rec.recommend([["B00004Z5M1", "B0000AQO6R"]], k=10)    # a new history (original ids, oldest first)
    rec.recommend_users(["A1JZ9PSI2YO1D8"], k=10)            # known users: what comes after all they have

``load`` rebuilds the model from the run's ``config.json`` and ``best.pt`` over the dataset it was trained
on (relation graphs from the graph store, or rebuilt), in evaluation mode, and refuses with one line a run
that never finished, a missing or corrupt ``best.pt`` (its SHA-256 is recorded in ``results.json``), and a
dataset whose fingerprint differs from the one the run recorded in ``data.json``.

A user's scores are the model's own (``score``, Eq. 22 for MDSRec), computed as one inner product between a
user vector and the catalog's item vectors (``user_vectors`` / ``catalog_vectors``) and searched exactly in
chunks (the default) or with an approximate index (:mod:`mdsrec_pyg.retrieval`). A history longer than the
model's ``max_len`` is read by its last ``max_len`` items (as in training); ``exclude_seen`` leaves out every
item of the whole history. For MDSRec, ``explain=True`` adds the rank each recommended item gets in each
channel (``id``: y^s of Eq. 20, each modality: y^m of Eq. 21, ``final``: Eq. 22), ranked as the evaluator
ranks (1 + the other candidates scoring at least as high).
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import os
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from . import io
from .config import Config, model_class
from .data import SequentialDataset, load_dataset
from .data.dataset import left_pad
from .distributed import check_device
from .errors import InputError, shorten
from .evaluate import trim_left_padding
from .hashing import file_sha256
from .models import SequentialRecommender, build_model, model_and_graphs
from .progress import progress
from .registry.measurements import ExportSummary
from .retrieval import InnerProductIndex, build_index, check_index_options
from .runs import RunFolder

log = logging.getLogger(__name__)

UNKNOWN = ("error", "drop")


@dataclass
class Recommendation:
    """The top-K of one history: original item ids, best first, with their scores; for MDSRec with
    ``explain``, per channel the rank of each of those items."""

    items: list[str]
    scores: list[float]
    channel_ranks: dict[str, list[int]] = field(default_factory=dict)


def load_trained(
    run_dir: str | Path,
    device: str = "cpu",
    dataset: SequentialDataset | None = None,
    data_dir: str | None = None,
    allow_changed_data: bool = False,
) -> tuple[Config, SequentialDataset, SequentialRecommender]:
    """The finished run in ``run_dir``: its config, its dataset (loaded unless given) and its model with the
    best weights, in evaluation mode on ``device``. One-line errors for an unfinished run (with the advice
    that finishes it), a ``config.json`` that is not the config ``results.json`` recorded, a missing or
    corrupt ``best.pt``, and (unless ``allow_changed_data``) a dataset that changed since training. The data,
    feature and graph folders are the ones the run recorded (``data.json``), so that it loads from any
    working directory; ``data_dir`` moves the data."""
    folder = RunFolder(run_dir)
    if not folder.path.is_dir():
        raise InputError(folder.path, "run folder not found")
    check_device(device, "device")
    config = folder.located_config()
    if not folder.finished:
        raise InputError(folder.path, f"the run has not finished (no results.json); {folder.advice_to_finish()}")
    results = folder.read_json(folder.RESULTS)
    folder.check_consistent(results)
    if config.data.cold_items:
        raise InputError(
            folder.path,
            f"a cold-start run (data.cold_items={config.data.cold_items:g}) measures held-out items and its model "
            "never trained on them; train without data.cold_items to recommend",
        )
    config.training.device = device
    if data_dir is not None:
        config.data.data_dir = data_dir
    weights = folder.file(folder.BEST)
    if model_class(config.model).trainable:  # the weights are checked before anything is loaded
        if not weights.is_file():
            raise InputError(weights, "not found: the run's best weights are missing")
        expected = results.get("best_sha256")
        if expected is not None and file_sha256(weights) != expected:
            raise InputError(weights, "corrupt: its SHA-256 differs from the one results.json recorded")
    dataset = dataset or load_dataset(config.dataset, config.data.data_dir, config.data.feature_dir)
    recorded = results.get("data", {}).get("fingerprint")
    if recorded is None:
        log.warning(
            "%s: the run predates data fingerprints; cannot check that %s is the data it was trained on",
            run_dir,
            dataset.name,
        )
    elif recorded != dataset.fingerprint() and not allow_changed_data:
        raise InputError(
            run_dir,
            f"dataset {dataset.name!r} has changed since this run was trained (its "
            "fingerprint differs); retrain, or load with allow_changed_data / --force",
        )
    config, model = trained_model(config, dataset, weights)
    model.to(device).eval()
    return config, dataset, model


def trained_model(config: Config, dataset: SequentialDataset, weights: Path) -> tuple[Config, SequentialRecommender]:
    """The model of ``config`` with the weights of ``weights``; a model built from relation graphs takes them
    from its weights (nothing is clustered or searched again). One line for a file that is not its weights."""
    split = dataset.split()
    if not model_class(config.model).trainable:
        return model_and_graphs(config, dataset, split)
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        graphs = model_class(config.model).graphs_in(config, dataset, state)
        if graphs is not None:
            config = graphs.config_of(config)
        model = build_model(config, dataset, split, graphs)
        model.load_state_dict(state)
    except InputError:
        raise
    except Exception as err:  # a truncated or foreign file: one line, never a traceback
        raise InputError(
            weights,
            f"cannot be loaded as this run's weights ({type(err).__name__}: {' '.join(str(err).split())[:300]})",
        ) from None
    return config, model


def positive_count(value: Any, name: str) -> int:
    """``value`` if it is an integer >= 1 (not a bool), else one line naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise InputError(name, f"got {shorten(value)}; expected an integer >= 1")
    return int(value)


def id_list(values: Any, name: str) -> list[str]:
    """``values`` as a list of id strings: any iterable of them (a generator too), never a single string."""
    if isinstance(values, (str, bytes)):
        raise InputError(name, f"got the string {shorten(values)}; expected a list of ids")
    try:
        out = list(values)
    except TypeError:
        raise InputError(name, f"got {type(values).__name__}; expected a list of ids") from None
    bad = next((v for v in out if not isinstance(v, str)), None)
    if bad is not None:
        raise InputError(name, f"got {shorten(bad)} among the ids; expected strings (original ids)")
    return out


def new_feature_rows(features: Any, catalog: dict[str, torch.Tensor], count: int) -> dict[str, torch.Tensor]:
    """The feature rows of ``count`` new items as float tensors, one matrix per modality of ``catalog`` with its
    width; one line for a missing modality, a wrong shape or a value that is not finite."""
    if not isinstance(features, dict):
        raise InputError("features", f"got {type(features).__name__}; expected {{modality: matrix}}")
    missing = [m for m in catalog if m not in features]
    if missing:
        raise InputError("features", f"no rows for modality {', '.join(missing)}; the model reads {list(catalog)}")
    rows = {}
    for m, matrix in catalog.items():
        try:
            values = torch.as_tensor(np.asarray(features[m], dtype=np.float32))
        except (TypeError, ValueError):
            raise InputError("features", f"modality {m}: expected a numeric matrix") from None
        if tuple(values.shape) != (count, matrix.size(1)):
            raise InputError(
                "features", f"modality {m}: got shape {tuple(values.shape)}; expected ({count}, {matrix.size(1)})"
            )
        if not torch.isfinite(values).all():
            raise InputError("features", f"modality {m}: a value is not finite")
        rows[m] = values
    return rows


class Recommender:
    """Top-K recommendations of a trained model, by original ids (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        dataset: SequentialDataset,
        model: SequentialRecommender,
        index: str = "exact",
        batch_size: int | None = None,
        **index_options,
    ) -> None:
        self.config, self.dataset, self.model = config, dataset, model.eval()
        self.device = torch.device(check_device(config.training.device, "device"))
        self.batch_size = positive_count(batch_size, "batch_size") if batch_size else config.evaluation.eval_batch_size
        self.user_of = {user: u for u, user in enumerate(dataset.user_ids)}
        if index == "exact":
            index_options.setdefault("chunk", config.evaluation.item_chunk)
        self.index_kind, self.index_options = index, index_options
        self.index_catalog()

    def index_catalog(self) -> None:
        """The item side of the model, computed once (the weights are fixed), and the index over it."""
        self.item_of = {item: i for i, item in enumerate(self.dataset.item_ids) if i}  # original id -> index
        with torch.no_grad():
            self.tables = self.model.item_tables()
        self.item_vectors = self._catalog_vectors()  # (num_items, D), row 0 padding
        self.index: InnerProductIndex = build_index(self.index_kind, self.item_vectors, **self.index_options)

    def add_items(
        self,
        ids: Sequence[str],
        features: dict[str, Any],
        text: Sequence[str] | None = None,
        id_embedding: str = "zero",
    ) -> None:
        """Items that were not in training, known by their features (``{modality: (len(ids), d_m) matrix}``, every
        modality the model reads), join the catalog: recommendations may include them from now on, by their
        ids, as any other item (``exclude_seen`` too). A model that reads no features refuses in one line; see
        each model's ``add_items`` for how it scores a new item (MDSRec: its nearest catalog items by
        features; ``id_embedding`` ``"zero"`` or ``"neighbours"``)."""
        ids = id_list(ids, "ids")
        known = [i for i in ids if i in self.item_of]
        if known or len(set(ids)) != len(ids) or not ids:
            problem = f"{shorten(known[0])} is in the catalog already" if known else "expected distinct new ids"
            raise InputError("ids", problem)
        catalog = self.dataset.select_features(self.config.data.modalities, self.config.model)
        rows = new_feature_rows(features, catalog, len(ids))
        if text is not None and len(id_list(text, "text")) != len(ids):
            raise InputError("text", f"got {len(text)} texts for {len(ids)} new items; expected one each")
        self.model.add_items({m: t.to(self.device) for m, t in rows.items()}, catalog, id_embedding)
        self.model.to(self.device).eval()
        grown = {m: torch.cat([f, rows[m]]) if m in rows else f for m, f in self.dataset.features.items()}
        item_text = None
        if self.dataset.item_text is not None or text is not None:
            item_text = (self.dataset.item_text or [""] * self.dataset.num_items) + list(text or [""] * len(ids))
        self.dataset = dataclasses.replace(
            self.dataset, item_ids=self.dataset.item_ids + ids, features=grown, item_text=item_text
        )
        self.index_catalog()

    @classmethod
    def load(
        cls,
        run_dir: str | Path,
        device: str = "cpu",
        index: str = "exact",
        data_dir: str | None = None,
        allow_changed_data: bool = False,
        dataset: SequentialDataset | None = None,
        **index_options,
    ) -> "Recommender":
        """The recommender of the finished run in ``run_dir`` (see :func:`load_trained`); the index and its
        options are checked before anything is loaded."""
        check_index_options(index, index_options)
        config, dataset, model = load_trained(run_dir, device, dataset, data_dir, allow_changed_data)
        return cls(config, dataset, model, index=index, **index_options)

    # ----- ids -----
    def item_indices(self, history: Sequence[str], unknown: str = "error") -> np.ndarray:
        """Internal indices of a history of original item ids; unknown ids raise (``unknown="error"``) or
        are dropped with a warning (``"drop"``)."""
        if unknown not in UNKNOWN:
            raise InputError("unknown", f"expected one of {', '.join(UNKNOWN)}, got {shorten(unknown)}")
        history = id_list(history, "history")
        missing = [item for item in history if item not in self.item_of]
        if missing and unknown == "error":
            raise self._not_found("history", "item", missing)
        if missing:
            log.warning("dropped %d unknown item id(s) from a history: %s", len(missing), ", ".join(missing[:5]))
        indices = np.array([self.item_of[item] for item in history if item in self.item_of], dtype=np.int64)
        if len(indices) == 0:
            raise InputError("history", "a history has no item of the catalog; at least one is needed")
        return indices

    def user_indices(self, user_ids: Sequence[str]) -> list[int]:
        user_ids = id_list(user_ids, "user_ids")
        missing = [user for user in user_ids if user not in self.user_of]
        if missing:
            raise self._not_found("user", "user", missing)
        return [self.user_of[user] for user in user_ids]

    def _not_found(self, source: str, kind: str, missing: list[str]) -> InputError:
        """The one line naming ids the dataset lacks (the first five)."""
        return InputError(
            source,
            f"{len(missing)} {kind} id(s) not in {self.dataset.name}: "
            f"{', '.join(map(repr, missing[:5]))}{' ...' if len(missing) > 5 else ''}",
        )

    # ----- vectors -----
    @torch.no_grad()
    def _catalog_vectors(self) -> torch.Tensor:
        """The item side of the inner-product form; it depends on the weights only, so a one-item history
        stands in for the users."""
        state = self.model.user_state(torch.ones((1, 1), dtype=torch.long, device=self.device), self.tables)
        return self.model.catalog_vectors(state).detach().float()

    def _user_state(self, sequences: Sequence[np.ndarray]) -> Any:
        """The model's state after each internal-index history, read by its last ``max_len`` items."""
        rows = trim_left_padding(left_pad(list(sequences), self.config.data.max_len))
        return self.model.user_state(torch.as_tensor(rows, device=self.device), self.tables)

    @torch.no_grad()
    def user_vectors(self, sequences: Sequence[np.ndarray]) -> torch.Tensor:
        """(len(sequences), D) user vectors of internal-index histories."""
        return self.model.user_vectors(self._user_state(sequences)).float()

    @torch.no_grad()
    def user_vector_batches(
        self, sequences: Sequence[np.ndarray]
    ) -> Iterator[tuple[Sequence[np.ndarray], torch.Tensor]]:
        """(histories, their user vectors) per batch of ``batch_size``."""
        for begin in range(0, len(sequences), self.batch_size):
            batch = sequences[begin : begin + self.batch_size]
            yield batch, self.user_vectors(batch)

    # ----- recommendations -----
    def top_k(
        self, sequences: Sequence[np.ndarray], k: int = 10, exclude_seen: bool = True
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Per batch of ``batch_size`` histories (internal indices): (scores (B, k), item indices (B, k)),
        best first; -1 / -inf where fewer than ``k`` items are left. ``k`` above the catalog is the catalog."""
        k = self.catalog_k(k)
        for batch, users in self.user_vector_batches(sequences):
            yield self.index.search(users, k, batch if exclude_seen else None)

    def catalog_k(self, k: Any) -> int:
        """``k`` checked (an integer >= 1), and at most the catalog's size (with a warning)."""
        k = positive_count(k, "k")
        if k > len(self.item_of):
            log.warning("k = %d is more than the %d items of the catalog: every item is ranked", k, len(self.item_of))
        return min(k, len(self.item_of))

    def recommend(
        self,
        histories: Sequence[Sequence[str]],
        k: int = 10,
        exclude_seen: bool = True,
        explain: bool = False,
        unknown: str = "error",
    ) -> list[Recommendation]:
        """The top-``k`` original item ids (and scores) after each history of original ids, oldest first
        (any iterable of histories, a generator too)."""
        if isinstance(histories, (str, bytes)):
            raise InputError("histories", "got a string; expected a list of histories, each a list of item ids")
        try:
            histories = list(histories)
        except TypeError:
            raise InputError("histories", f"got {type(histories).__name__}; expected a list of histories") from None
        if any(isinstance(h, (str, bytes)) for h in histories):
            raise InputError("histories", "a history is a string; expected each history as a list of item ids")
        return self._recommend([self.item_indices(h, unknown) for h in histories], k, exclude_seen, explain)

    def recommend_users(
        self, user_ids: Sequence[str], k: int = 10, exclude_seen: bool = True, explain: bool = False
    ) -> list[Recommendation]:
        """What comes next for known users, from their whole history (training, validation and test items)."""
        return self._recommend(
            [self.dataset.sequences[u] for u in self.user_indices(user_ids)], k, exclude_seen, explain
        )

    def _recommend(
        self, sequences: list[np.ndarray], k: int, exclude_seen: bool, explain: bool
    ) -> list[Recommendation]:
        out = []
        for scores, items in self.top_k(sequences, k, exclude_seen):
            out += [self._named(s, i) for s, i in zip(scores, items)]
        if explain:
            ranks = self.channel_ranks(sequences, [[self.item_of[i] for i in r.items] for r in out], exclude_seen)
            for recommendation, channel in zip(out, ranks):
                recommendation.channel_ranks = channel
        return out

    def _named(self, scores: np.ndarray, items: np.ndarray) -> Recommendation:
        keep = items >= 0
        return Recommendation([self.dataset.item_ids[i] for i in items[keep]], [float(s) for s in scores[keep]])

    @torch.no_grad()
    def channel_ranks(
        self, sequences: list[np.ndarray], chosen: list[list[int]], exclude_seen: bool = True, batch_size: int = 32
    ) -> list[dict[str, list[int]]]:
        """For each history and each of its ``chosen`` items, the item's rank in every channel of the model
        (``final`` too), among the same candidates as the recommendation (padding and, with
        ``exclude_seen``, the history left out): 1 + the other candidates scoring at least as high."""
        channels = self.model.channel_scores  # empty for a one-channel model: only ``final``
        num_items = self.dataset.num_items
        out: list[dict[str, list[int]]] = []
        for begin in range(0, len(sequences), batch_size):
            batch = sequences[begin : begin + batch_size]
            state = self._user_state(batch)
            scores = {**channels(state, 0, num_items), "final": self.model.score(state, 0, num_items)}
            ranks: dict[str, list[list[int]]] = {name: [] for name in scores}
            for row, history in enumerate(batch):
                mine = torch.as_tensor(chosen[begin + row], dtype=torch.long, device=self.device)
                for name, table in scores.items():
                    line = table[row].float().clone()
                    line[0] = float("-inf")
                    if exclude_seen:
                        line[torch.as_tensor(history, device=self.device)] = float("-inf")
                    own = line[mine]
                    ranks[name].append((line[None, :] >= own[:, None]).sum(1).tolist())
            out += [{name: ranks[name][row] for name in scores} for row in range(len(batch))]
        return out


EXPORT_SUFFIXES = (".csv", ".parquet")
VECTOR_FILES = ("item_vectors.npy", "item_ids.txt", "user_vectors.npy", "user_ids.txt")


def export_format(path: str | Path) -> str:
    """``parquet`` for a ``.parquet`` path (any case; pyarrow needed), ``csv`` for ``.csv`` or a stream
    (``/dev/stdout``); else one line."""
    if io.is_stream(path):
        return "csv"
    suffix = io.destination(Path(path)).suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise InputError(path, f"expected a file ending in {' or '.join(EXPORT_SUFFIXES)} (the format follows it)")
    if suffix == ".csv":
        return "csv"
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise InputError(path, "writing Parquet needs pyarrow (pip install pyarrow); or give a .csv path") from None
    return "parquet"


Rows = Iterator[tuple[list[str], list[str], list[str]]]  # per batch: user ids, their items, their scores


def recommendation_rows(recommender: Recommender, k: int, exclude_seen: bool, progress_shown: bool) -> Rows:
    """Every user's top-``k`` batch by batch, in dataset order, ids and scores space-separated."""
    dataset, sequences = recommender.dataset, recommender.dataset.sequences
    begin = 0
    found = recommender.top_k(sequences, k, exclude_seen)
    total = -(-len(sequences) // recommender.batch_size)
    for scores, items in progress(found, f"top-{k} of {len(sequences):,} users", total, "batch", progress_shown):
        users = dataset.user_ids[begin : begin + len(items)]
        begin += len(items)
        keep = items >= 0
        names = [" ".join(dataset.item_ids[i] for i in row[ok]) for row, ok in zip(items, keep)]
        values = [" ".join(f"{v:.6g}" for v in row[ok]) for row, ok in zip(scores, keep)]
        yield users, names, values


def csv_writer(rows: Callable[[], Rows]) -> Callable[[str], None]:
    """A ``write(tmp)`` of the rows as CSV: ``user_id``, ``items``, ``scores``."""

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["user_id", "items", "scores"])
            for users, names, values in rows():
                writer.writerows(zip(users, names, values))

    return write


def parquet_writer(rows: Callable[[], Rows]) -> Callable[[str], None]:
    """A ``write(tmp)`` of the rows as Parquet (pyarrow): ``user_id``, lists of ``items`` and ``scores``."""

    def write(tmp: str) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema(
            [("user_id", pa.string()), ("items", pa.list_(pa.string())), ("scores", pa.list_(pa.float32()))]
        )
        with pq.ParquetWriter(tmp, schema) as writer:
            for users, names, values in rows():
                columns = {
                    "user_id": users,
                    "items": [n.split() for n in names],
                    "scores": [[float(v) for v in x.split()] for x in values],
                }
                writer.write_table(pa.table(columns, schema=schema))

    return write


def write_recommendations(
    recommender: Recommender,
    path: str | Path,
    k: int = 10,
    exclude_seen: bool = True,
    progress_shown: bool = True,
    about: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Every user's top-``k`` (from the whole history) to ``path``, one row per user in dataset order:
    ``user_id``, ``items`` and ``scores`` (space-separated in CSV, lists in Parquet), and beside it (unless
    ``path`` is a stream such as ``/dev/stdout``) ``<path>.json``, the report: ``about`` and what was
    measured (users, seconds, users per second, the format, peak memory). Written batch by batch (memory
    bounded by the batch, not users x items); the two files replace their old versions together, once both
    are written. Returns the report."""
    path = io.destination(Path(path))  # a link: the file it points to, with its report beside that file
    fmt = export_format(path)
    users, k = len(recommender.dataset.sequences), recommender.catalog_k(k)
    report: dict[str, Any] = {"kind": ExportSummary.kind, **(about or {})}

    def rows() -> Rows:
        return recommendation_rows(recommender, k, exclude_seen, progress_shown)

    def write_report(tmp: str) -> None:  # runs after the data file is written: the measurements are known
        seconds = time.time() - started
        report.update(
            {
                "users": users,
                "items": recommender.dataset.num_items - 1,
                "k": k,
                "format": fmt,
                "seconds": seconds,
                "users_per_second": users / max(seconds, 1e-9),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
        io.json_writer(report)(tmp)

    started = time.time()
    files = {path.name: parquet_writer(rows) if fmt == "parquet" else csv_writer(rows)}
    if not io.is_stream(path):  # a report beside a file; none beside /dev/stdout
        files[path.name + ".json"] = write_report
    io.write_set(path.parent, files)
    if io.is_stream(path):
        write_report(os.devnull)
    return report


def export_vectors(recommender: Recommender, folder: str | Path, users: bool = False) -> list[Path]:
    """The inner-product form of the model as files: ``item_vectors.npy`` (items x D, padding left out) with
    ``item_ids.txt`` (row i is that original id); with ``users``, ``user_vectors.npy`` of every user's whole
    history with ``user_ids.txt``, filled batch by batch into a memory-mapped file. Scores are
    ``user_vectors @ item_vectors.T``. The files replace an earlier export as one set: user vectors of an
    earlier export are removed when this one has none."""
    dataset = recommender.dataset
    files = {
        "item_vectors.npy": io.npy_writer(recommender.item_vectors[1:].cpu().numpy()),
        "item_ids.txt": io.text_writer("\n".join(dataset.item_ids[1:]) + "\n"),
    }
    if users:
        sequences, dim = dataset.sequences, recommender.item_vectors.size(1)

        def fill(tmp: str) -> None:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=(len(sequences), dim))
            begin = 0
            for batch, vectors in recommender.user_vector_batches(sequences):
                out[begin : begin + len(batch)] = vectors.cpu().numpy()
                begin += len(batch)
            out.flush()
            del out

        files["user_vectors.npy"] = fill
        files["user_ids.txt"] = io.text_writer("\n".join(dataset.user_ids) + "\n")
    return io.write_set(folder, files, owned=VECTOR_FILES)


__all__ = [
    "Recommendation",
    "Recommender",
    "EXPORT_SUFFIXES",
    "export_format",
    "export_vectors",
    "load_trained",
    "write_recommendations",
]
