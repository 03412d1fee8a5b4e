"""MDSRec: multimodal difference learning for sequential recommendation (Li et al.), on PyG.

Three parts, each with the paper's equations beside the code:
1. Relation graphs (RGC): co-occurrence O from training sequences (Eq. 1-2) injected into the ID embeddings
   on every pass and into the modal features once (Eq. 3); per modality a top-H cosine graph Â^m of the
   behaviour-injected features (Eq. 4-5) propagates the ID embeddings into Ê^m (Eq. 6).
2. Interest-centralized attention (ICA): a SASRec transformer per stream (ID stream over Ē^id, one modal
   stream per modality over Ê^m, Eq. 7-9), and k-means interest centres that attend over each modal stream
   with its own attention weights (Eq. 10-16).
3. Fusion and prediction: e_u^s = Σ ρ_m e_u^m + e_u^id (Eq. 17); centres mixed into the modal states through a
   Gumbel-softmax relation (Eq. 18-19, noise in training only); y = y^s + Σ ρ_m y^m (Eq. 20-22); loss
   CE(y^s) + Σ ρ_m CE(y^m) over all items (Eq. 23-24).

Choices where the paper is silent (all named config options): O is normalised before Eq. 3 by
``cooc_norm`` (default ``lightgcn``, D^-1/2 O D^-1/2; raw O with mu_id = 16 swamps the embeddings); Â^m
by ``graph_operator`` (default ``mean``; ``sum`` is Eq. 6 as written); an item is not its own neighbour
among the H but keeps a self-loop; C^m averages its members (``centre_norm``); Eq. 19's noise is the
logistic noise it writes, log δ - log(1 - δ). Ablations (Table 3) are four switches that combine freely:
``graphs.dis=false`` (O counts every pair 1), ``graphs.cre=false`` (Â^m from the raw E^m),
``mdsrec.mrgc=false`` (modal streams read a learned projection of E^m instead of Ê^m), ``mdsrec.ica=false``
(no centralized attention). For speed, not in the paper: ``modal_positions`` < 1 (default
1) trains ICA and the modal terms of Eq. 23-24 at a random share of each batch's positions only. With the
sampled softmax a training step computes the item tables at the rows it reads only (the batch's items and
targets, each channel's negatives: Eq. 3 and Eq. 6 over their one-hop neighbourhoods in O and Â^m), the same
loss and gradient as the whole tables give; Eq. 11 still reads every item, unless ``centre_sample`` = s > 0
estimates each centre from s of its members drawn each step (an approximation, training only), which lets
``training.optimizer=lazy_adam`` update the rows a step read alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.profiler import record_function

from ..config import Config, boolean, integer, one_of, real, setting, weights
from ..data import LeaveOneOutSplit, SequentialDataset
from ..errors import InputError
from ..graphs.knn import nearest_in
from ..graphs.relations import RelationGraphs
from ..graphs.settings import GraphConfig, fitted_to_catalog
from ..losses import ItemSoftmax
from ..nn.centralized import (
    CentralizedAttention,
    centre_features,
    centre_mix,
    draw_members,
    members_by_centre,
    sampled_centre_features,
)
from ..nn.modal import BufferDict, ModalProjection, grown_embedding
from ..nn.propagation import RelationGraph
from ..nn.transformer import EncoderOptions, SequenceEncoder, init_weights
from .base import SequentialRecommender


@dataclass
class MDSRecOptions(EncoderOptions):
    """MDSRec's own options (the paper's settings); the relation graphs' are the ``graphs`` section."""

    centre_norm: str = setting("mean", one_of("mean", "sum"))  # C^m rows: centroid of members, or their sum
    tau: float = setting(1.0, real(0.0, low_open=True))  # Eq. 19 Gumbel-softmax temperature
    rho: list[float] = setting([], weights(), item=float)  # Eq. 17/22/23 modality weights; empty: equal, summing to 1
    share_modal_encoder: bool = setting(False, boolean())  # one transformer for all modal streams
    # the share of a batch's positions with ICA and the modal losses in training (1: all)
    modal_positions: float = setting(1.0, real(0.0, 1.0, low_open=True))
    mrgc: bool = setting(True, boolean())  # modal streams over Ê^m, Eq. 6 (False: w/o MRGC)
    ica: bool = setting(True, boolean())  # interest-centralized attention, Eq. 10-19 (False: w/o ICA)
    # Eq. 11 in training from this many members of each centre, drawn each step (0: every member, exact)
    centre_sample: int = setting(0, integer(0))

    def check(self, config: Config) -> None:
        super().check(config)
        training, key = config.training, f"setting {config.model}.centre_sample"
        if self.centre_sample and not self.ica:
            raise InputError(key, f"got {self.centre_sample}; it samples ICA's centres, and ica=false has none")
        if self.centre_sample and training.softmax != "sampled":
            raise InputError(
                key,
                f"got {self.centre_sample}; it serves the row-wise step of the sampled softmax, and with "
                f"softmax={training.softmax} every item is read each step anyway: expected --set softmax=sampled",
            )
        if training.optimizer == "lazy_adam" and self.ica and not self.centre_sample:
            raise InputError(
                "setting training.optimizer",
                f"lazy_adam with {config.model}'s ICA needs Eq. 11's centres from a sample of their members (all of "
                f"them give every item a gradient on every step); expected --set {config.model}.centre_sample=N "
                f"(N > 0) or {config.model}.ica=false",
            )
        modalities = config.data.modalities
        if self.rho and modalities and len(self.rho) != len(modalities):
            raise InputError("setting mdsrec.rho", f"got {self.rho}; expected one weight per modality of {modalities}")


@dataclass
class ItemTables:
    items: Tensor  # E^id (N, d)
    injected: Tensor  # Ē^id (N, d), Eq. 3
    modal: dict[str, Tensor]  # Ê^m (N, d), Eq. 6
    centres: dict[str, Tensor]  # Ê_c^m (k, d), Eq. 11 (empty without ICA)


@dataclass
class UserState:
    fused: Tensor  # e_u^s (B, d), Eq. 17
    modal: dict[str, Tensor]  # ẽ_u^m (B, d), Eq. 18
    items: Tensor  # E^id (N, d)
    modal_items: dict[str, Tensor]  # Ê^m (N, d)


class MDSRec(SequentialRecommender):
    """MDSRec over the output of the relation-graph stage (``graphs/relations.py``): ``config.graphs`` is the
    settings the graphs were built with."""

    description = "MDSRec (Li et al.): multimodal difference learning, the default"
    Options = MDSRecOptions
    Graphs = GraphConfig
    reads_features = True
    sparse_item_table = True  # with the sampled softmax a step reads the rows of its neighbourhoods only

    def __init__(
        self, config: Config, num_items: int, graphs: RelationGraphs, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        options = config.options
        d = options.hidden_size
        self.modalities = list(graphs.features)
        rho = options.rho or [1.0 / len(self.modalities)] * len(self.modalities)
        if len(rho) != len(self.modalities):
            raise InputError(
                "setting mdsrec.rho", f"expected {len(self.modalities)} weights for {self.modalities}, got {rho}"
            )
        self.rho = dict(zip(self.modalities, rho))
        self.mu_id, self.k, self.H = graphs.settings.mu_id, graphs.settings.k, graphs.settings.H
        self.graph_operator = graphs.settings.graph_operator
        self.tau, self.centre_norm, self.modal_positions = options.tau, options.centre_norm, options.modal_positions
        self.centre_sample = options.centre_sample

        def encoder() -> SequenceEncoder:
            return SequenceEncoder.of(options, config.data.max_len)

        self.item_embedding = nn.Embedding(num_items, d, padding_idx=0)  # E^id
        self.cooccurrence = graphs.injection  # O, normalised once (Eq. 3)
        self.id_encoder = encoder()
        shared = encoder() if options.share_modal_encoder else None
        self.modal_encoders = nn.ModuleDict({m: shared or encoder() for m in self.modalities})
        self.use_graphs = options.mrgc
        if self.use_graphs:
            self.modal_graphs = nn.ModuleDict({m: graphs.modal[m] for m in self.modalities})  # Â^m, normalised
        else:
            self.projected = ModalProjection(graphs.features, d)
        self.use_ica = options.ica
        if self.use_ica:
            self.centralized = nn.ModuleDict(
                {m: CentralizedAttention(d, options.inner_size, options.num_layers) for m in self.modalities}
            )
            self.assignments = BufferDict({m: graphs.assignments[m] for m in self.modalities})
            self.index_members()
        self.register_load_state_dict_pre_hook(read_flat_assignment_keys)
        if self.use_ica:  # loaded assignments regroup the members
            self.register_load_state_dict_post_hook(lambda module, keys: module.index_members())
        self.apply(init_weights)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    @classmethod
    def build(
        cls,
        config: Config,
        dataset: SequentialDataset,
        split: LeaveOneOutSplit,
        softmax: ItemSoftmax | None = None,
        graphs: RelationGraphs | None = None,
    ) -> "MDSRec":
        if graphs is None:
            raise ValueError("MDSRec is built from the relation-graph stage's output: build_relation_graphs")
        return cls(config, dataset.num_items, graphs, softmax)

    @classmethod
    def graphs_in(cls, config: Config, dataset: SequentialDataset, state: dict[str, Tensor]) -> RelationGraphs:
        """O, Â^m (already normalised) and the interest assignments as ``best.pt`` holds them: loading a
        trained MDSRec runs no k-means and no neighbour search (``KeyError`` for weights of another model)."""
        state = dict(state)
        read_flat_assignment_keys(None, state, "")
        settings, num_items = fitted_to_catalog(config.graphs, dataset.num_items - 1, warn=False), dataset.num_items
        features = dataset.select_features(config.data.modalities, config.model)

        def stored(name: str) -> RelationGraph:  # "sum" keeps the stored (normalised) weights as they are
            weights = state[f"{name}.edge_weight"]
            return RelationGraph(state[f"{name}.edge_index"], weights, num_items, "sum", settings.adjacency_layout)

        modal = {m: stored(f"modal_graphs.{m}") for m in features if f"modal_graphs.{m}.edge_index" in state}
        assignments = {m: state[f"assignments.{m}"] for m in features if f"assignments.{m}" in state}
        return RelationGraphs(settings, stored("cooccurrence"), modal, assignments, features)

    @classmethod
    def new_item_embeddings(cls) -> tuple[str, ...]:
        return ("zero", "neighbours")

    def add_items(self, features: dict[str, Tensor], catalog: dict[str, Tensor], id_embedding: str = "zero") -> None:
        """New items by their raw features: in Â^m each takes the place of its nearest catalog items, its top
        H + 1 by cosine (a new item has no co-occurrence, so no behaviour injection), so Ê^m is their mean
        (Eq. 6 with the ``mean`` operator; ``sum``: their sum), and an exact copy of a catalog item's
        features gets that item's Ê^m where Â^m was built from the raw features (``cre`` off). Its E^id is
        zero (``id_embedding="zero"``) or the mean E^id of those neighbours (``"neighbours"``); it is in no
        O edge and a member of no interest centre, so the catalog's own scores do not change."""
        if id_embedding not in ("zero", "neighbours"):
            raise InputError("id_embedding", f"got {id_embedding!r}; expected 'zero' or 'neighbours'")
        if self.use_graphs and self.graph_operator not in ("mean", "sum"):
            raise InputError(
                "new items", f"graph_operator {self.graph_operator!r}: a new item's weights in Â^m need mean or sum"
            )
        old, count = self.item_embedding.num_embeddings, len(next(iter(features.values())))
        neighbours = {}  # searched only where Â^m or the ID embedding reads them
        if self.use_graphs or id_embedding == "neighbours":
            neighbours = {m: nearest_in(catalog[m], features[m], self.H + 1) for m in self.modalities}
        rows = None
        if id_embedding == "neighbours":
            weight = self.item_embedding.weight
            rows = torch.stack([weight[n].mean(1) for n in neighbours.values()]).mean(0)
        self.item_embedding = grown_embedding(self.item_embedding, count, rows)
        self.cooccurrence.grow(count)
        if not self.use_graphs:
            self.projected.grow(features)
            return
        for m, found in neighbours.items():
            targets = torch.arange(old, old + count).repeat_interleave(found.size(1))
            scale = 1.0 / found.size(1) if self.graph_operator == "mean" else 1.0
            self.modal_graphs[m].grow(
                count, torch.stack([found.flatten(), targets]), torch.full((len(targets),), scale)
            )

    def index_members(self) -> None:
        """The members of each centre grouped by centre, from the assignments (for ``centre_sample``)."""
        grouped = {m: members_by_centre(self.assignments[m], self.k) for m in self.modalities}
        self.members = BufferDict({m: members for m, (members, _) in grouped.items()}, persistent=False)
        self.member_starts = BufferDict({m: starts for m, (_, starts) in grouped.items()}, persistent=False)

    def use_sparse_item_table(self) -> nn.Parameter:
        """Read E^id by sparse lookups in the row-wise step (:meth:`sampled_loss`), so that its gradient
        holds the rows the step read only; returns the table."""
        self.item_embedding.sparse = True
        return self.item_embedding.weight

    # ----- item tables -----
    def modal_tables(self) -> dict[str, Tensor]:
        """Ê^m (Eq. 6), or the projected raw features without MRGC, of every item."""
        items = self.item_embedding.weight
        if self.use_graphs:
            return {m: self.modal_graphs[m](items) for m in self.modalities}  # Eq. 6
        return {m: torch.cat([torch.zeros_like(t[:1]), t[1:]]) for m, t in self.projected().items()}

    def item_tables(self) -> ItemTables:
        """E^id, Ē^id (Eq. 3), Ê^m (Eq. 6, or the projected raw features without MRGC) and the centre
        features Ê_c^m (Eq. 11): everything that depends on the weights but not on the sequences."""
        items = self.item_embedding.weight
        injected = self.mu_id * self.cooccurrence(items) + items  # Eq. 3
        modal = self.modal_tables()
        return ItemTables(items, injected, modal, self.centre_tables(modal))

    def centre_tables(self, modal: dict[str, Tensor]) -> dict[str, Tensor]:
        """Ê_c^m = C^m Ê^m (Eq. 11) from every item's Ê^m (empty without ICA)."""
        if not self.use_ica:
            return {}
        return {m: centre_features(modal[m], self.assignments[m], self.k, self.centre_norm) for m in self.modalities}

    def row_tables(self, rows: Tensor, drawn: dict[str, Tensor]) -> ItemTables:
        """The item tables at the item ids ``rows`` (sorted, 0 first) alone: Eq. 3 and Eq. 6 from the one-hop
        neighbourhoods of those rows in O and Â^m, the same rows as :meth:`item_tables`; the centres from the
        members ``drawn`` (k, s) per modality (ids among ``rows``), or, with none drawn, from every item."""
        weight, sparse = self.item_embedding.weight, self.item_embedding.sparse

        def lookup(ids: Tensor) -> Tensor:
            return F.embedding(ids, weight, sparse=sparse)

        items = lookup(rows)
        injected = self.mu_id * self.cooccurrence.rows(lookup, rows) + items  # Eq. 3 at the rows
        if self.use_graphs:
            modal = {m: self.modal_graphs[m].rows(lookup, rows) for m in self.modalities}  # Eq. 6 at the rows
        else:
            modal = {m: t * (rows != 0)[:, None] for m, t in self.projected(rows).items()}
        if not drawn:
            return ItemTables(items, injected, modal, self.centre_tables(self.modal_tables()))
        centres = {}
        for m, ids in drawn.items():  # Eq. 11 estimated from the drawn members
            starts = self.member_starts[m]
            features = modal[m][torch.searchsorted(rows, ids)]
            centres[m] = sampled_centre_features(features, starts[1:] - starts[:-1], self.centre_norm)
        return ItemTables(items, injected, modal, centres)

    # ----- sequences -----
    def streams(
        self,
        inputs: Tensor,
        rows: Tensor,
        positions: Tensor,
        tables: ItemTables,
        modal_queries: Tensor | slice = slice(None),
    ) -> tuple[Tensor, dict[str, Tensor]]:
        """e_u^s (P, d) and ẽ_u^m for the P queries (sequence ``rows[p]``, position ``positions[p]``) over the
        item tables. ẽ_u^m is computed for the queries ``modal_queries`` (indices into the P; all by default)."""
        with record_function("mdsrec: sequence encoders, Eq. 7-9"):
            # F.embedding, not tables[inputs]: its backward does not index_put into a zeroed N x d table
            fused = self.id_encoder(F.embedding(inputs, tables.injected), inputs)[-1][rows, positions]  # Eq. 7-8
            streams = {
                m: self.modal_encoders[m](F.embedding(inputs, tables.modal[m]), inputs) for m in self.modalities
            }  # Eq. 9
        query_rows, query_positions = rows[modal_queries], positions[modal_queries]
        modal_out = {}
        for m in self.modalities:
            states = streams[m]
            e_m = states[-1][rows, positions]
            fused = fused + self.rho[m] * e_m  # Eq. 17 (before Eq. 18: the fused state has no ICA)
            e_m = e_m[modal_queries]
            if self.use_ica:
                attentions = [block.attention for block in self.modal_encoders[m].blocks]
                with record_function("mdsrec: centralized attention, Eq. 12-16"):
                    mixed, order = self.centralized[m](
                        tables.centres[m], states, attentions, inputs, query_rows, query_positions, self.mixer(e_m)
                    )  # Eq. 12-16 and 18-19 chunk by chunk, the queries in the order ``order``
                e_m = e_m.index_add(0, order, mixed)  # Eq. 18: each query's mix added to its own e_m
            modal_out[m] = e_m
        return fused, modal_out

    def mixer(self, e_m: Tensor) -> Callable[[Tensor, Tensor], Tensor]:
        """Eq. 18-19 before the residual, for a chunk of ICA's queries: their centre states E_c^m (n, k, d) and
        their indices into ``e_m`` (P, d) -> the mix (n, d), with Eq. 19's noise log δ - log(1 - δ) drawn for
        them in training only."""

        def mix(states: Tensor, queries: Tensor) -> Tensor:
            noise = None
            if self.training:
                delta = torch.rand(states.shape[:2], dtype=states.dtype, device=states.device).clamp(1e-10, 1 - 1e-10)
                noise = delta.log() - (1 - delta).log()
            return centre_mix(e_m[queries], states, noise, self.tau)

        return mix

    def loss(self, inputs: Tensor, targets: Tensor) -> Tensor:
        """Eq. 23-24 at every non-padding position; with ``modal_positions`` < 1, the modal terms (ICA and
        CE(y^m)) at the positions of a random share of the batch's columns only (an estimate of their mean,
        at about that share of their cost; the fused term keeps every position)."""
        rows, positions = (inputs != 0).nonzero(as_tuple=True)
        modal_queries = self.sampled_queries(positions) if self.modal_positions < 1 else slice(None)
        if self.training and self.softmax.kind == "sampled":
            return self.sampled_loss(inputs, targets[rows, positions], rows, positions, modal_queries)
        with record_function("mdsrec: item tables, Eq. 3, 6, 11"):
            tables = self.item_tables()
        fused, modal = self.streams(inputs, rows, positions, tables, modal_queries)
        y = targets[rows, positions]
        modal_y = y[modal_queries]
        with record_function("mdsrec: softmax over all items, Eq. 23-24"):
            loss = self.softmax(fused, tables.items, y)  # L^s
            for m in self.modalities:
                loss = loss + self.rho[m] * self.softmax(modal[m], tables.modal[m], modal_y)
        return loss

    def sampled_loss(
        self, inputs: Tensor, y: Tensor, rows: Tensor, positions: Tensor, modal_queries: Tensor | slice
    ) -> Tensor:
        """Eq. 23-24 with the sampled softmax (targets ``y`` of the queries ``rows``, ``positions``) over the
        item rows the step reads alone: the batch's items and targets, each channel's negatives and the
        centres' drawn members (``centre_sample``). The same loss as the whole tables give with those negatives."""
        negatives = {channel: self.softmax.draw() for channel in ["id", *self.modalities]}
        drawn = {}
        if self.use_ica and self.centre_sample:
            drawn = {
                m: draw_members(self.members[m], self.member_starts[m], self.centre_sample) for m in self.modalities
            }
        read = [inputs.new_zeros(1), inputs.flatten(), y, *negatives.values(), *(d.flatten() for d in drawn.values())]
        needed = torch.cat(read).unique()  # sorted, padding first
        with record_function("mdsrec: item tables, Eq. 3, 6, 11"):
            tables = self.row_tables(needed, drawn)
        fused, modal = self.streams(
            torch.searchsorted(needed, inputs.contiguous()), rows, positions, tables, modal_queries
        )
        with record_function("mdsrec: softmax over all items, Eq. 23-24"):
            loss = self.softmax.over_rows(fused, tables.items, needed, y, negatives["id"])  # L^s
            for m in self.modalities:
                modal_loss = self.softmax.over_rows(modal[m], tables.modal[m], needed, y[modal_queries], negatives[m])
                loss = loss + self.rho[m] * modal_loss
        return loss

    def sampled_queries(self, positions: Tensor) -> Tensor:
        """Indices of the queries whose position is in a random ``modal_positions`` share of the distinct
        positions (at least one): whole columns, so that ICA's work, per distinct position, shrinks with it."""
        columns = positions.unique()
        count = max(1, round(self.modal_positions * len(columns)))
        chosen = columns[torch.randperm(len(columns), device=positions.device)[:count]]
        return torch.isin(positions, chosen).nonzero().squeeze(1)

    def user_state(self, inputs: Tensor, tables: ItemTables | None = None) -> UserState:
        tables = self.item_tables() if tables is None else tables
        rows = torch.arange(inputs.size(0), device=inputs.device)
        last = torch.full_like(rows, inputs.size(1) - 1)
        fused, modal = self.streams(inputs, rows, last, tables)
        return UserState(fused, modal, tables.items, tables.modal)

    def channel_scores(self, state: UserState, start: int, end: int) -> dict[str, Tensor]:
        """y^s (Eq. 20, the fused state against the ID embeddings: channel ``id``) and each y^m (Eq. 21, by
        modality name) for items start..end-1."""
        scores = {"id": state.fused @ state.items[start:end].T}
        for m in self.modalities:
            scores[m] = state.modal[m] @ state.modal_items[m][start:end].T
        return scores

    def score(self, state: UserState, start: int, end: int) -> Tensor:
        """Eq. 22, y^s + Σ ρ_m y^m, as one product of (B, (1 + M) d) user vectors with the items' (one GEMM, no
        per-channel (B, N) tables to add up)."""
        return self.user_vectors(state) @ self.catalog_vectors(state, start, end).T

    def user_vectors(self, state: UserState) -> Tensor:
        """[e_u^s, ρ_1 ẽ_u^1, ...]: Eq. 22 as one inner product with :meth:`catalog_vectors`."""
        return torch.cat([state.fused] + [self.rho[m] * state.modal[m] for m in self.modalities], dim=1)

    def catalog_vectors(self, state: UserState, start: int = 0, end: int | None = None) -> Tensor:
        """[E^id, Ê^1, ...] of items start..end-1 (all by default): (end - start, (1 + M) d)."""
        rows = slice(start, end)
        return torch.cat([state.items[rows]] + [state.modal_items[m][rows] for m in self.modalities], dim=1)


def read_flat_assignment_keys(module: nn.Module | None, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    """Weights with one top-level buffer per modality, ``assignment_<m>`` (the best.pt of early runs), load as
    ``assignments.<m>`` (a load_state_dict pre-hook)."""
    for key in [k for k in state_dict if k.startswith(prefix + "assignment_")]:
        state_dict[prefix + "assignments." + key[len(prefix + "assignment_") :]] = state_dict.pop(key)
