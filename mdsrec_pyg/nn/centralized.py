"""Interest-centralized attention (MDSRec Eq. 10-16).

k-means on the raw modal features gives each item a centre (Eq. 10, ``graphs/interests.py``); ``C^m``
(k x |X|) is held as that assignment, and centre features ``Ê_c^m = C^m Ê^m`` (Eq. 11) are the mean
(``centre_norm="mean"``, default: each centre is the centroid of its members in the propagated space) or
the sum of their members' rows, recomputed on every forward pass as Ê^m changes.

The centres then attend over the modal stream's sequence (Eq. 12-14) with the *same* query, key, value and
output weights as the stream's transformer layer l, reading that layer's input ``E_u^{m,l-1}``, followed
by the two-layer map of Eq. 15, ``σ((g W1 + b1) W2 + b2)`` with σ = GELU (the transformer's activation);
as in the paper there is no residual connection. The causal mask holds: the centres computed for position
t see positions <= t only, so there is one set of k centre features per query position.

Cost: Eq. 12-15 run for every (query, centre) pair, P x k of them in training (P the batch's non-padding
positions, in cache-sized tiles of sequences and positions, each computed where it has queries only).
Everything linear after the attention weights (U of Eq. 14, W1 and W2 of Eq. 15) is folded into the values,
once per key; first-layer queries (the same k centres everywhere) are projected once; in later layers the
query map is folded into the keys (when heads x L is small against d, as with the paper's 2 heads, L = 50,
d = 300), so the per-pair work is two batched products: the same function up to float rounding (checked
against the literal one-query-at-a-time computation in the tests). It stays the dominant cost of MDSRec's training step
at large k: its output alone is P x k x d per layer, each element through dropout, Eq. 15 and GELU.
"""

from __future__ import annotations

import math
from typing import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint
from torch_geometric.utils import scatter

from .transformer import MultiHeadAttention

# centre states and attention weights a tile of ICA's queries computes: on CPU what its cache holds (16 MiB of
# float32, measured fastest on clothing's shapes), on an accelerator enough for few, large kernels (512 MiB)
CPU_TILE_ELEMENTS, DEVICE_TILE_ELEMENTS = 2**22, 2**27


def centre_features(item_features: Tensor, assignment: Tensor, k: int, norm: str = "mean") -> Tensor:
    """Eq. 11: ``C^m Ê^m`` for the items 1..len(assignment) of ``item_features`` (n, d) -> (k, d): the members
    of the centres (items added after training are members of none)."""
    if norm not in ("mean", "sum"):
        raise ValueError(f"centre_norm must be mean or sum, got {norm!r}")
    return scatter(item_features[1 : len(assignment) + 1], assignment, dim=0, dim_size=k, reduce=norm)


def members_by_centre(assignment: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The members of the k centres (item ids 1..len(assignment)) grouped by centre, and where each centre's
    group starts in them, (k + 1,): centre c's members are ``members[starts[c]:starts[c + 1]]``."""
    members = torch.argsort(assignment, stable=True) + 1
    counts = torch.bincount(assignment, minlength=k)
    return members, torch.cat([counts.new_zeros(1), counts.cumsum(0)])


def draw_members(members: Tensor, starts: Tensor, sample: int) -> Tensor:
    """``sample`` members of each centre drawn uniformly with replacement: (k, sample) item ids, 0 (padding)
    for a centre without members."""
    counts = starts[1:] - starts[:-1]
    draws = torch.rand(len(counts), sample, device=members.device) * counts[:, None]
    picks = starts[:-1, None] + torch.minimum(draws.long(), (counts - 1).clamp_min(0)[:, None])
    return torch.where(counts[:, None] > 0, members[picks.clamp(max=len(members) - 1)], 0)


def sampled_centre_features(drawn_features: Tensor, counts: Tensor, norm: str = "mean") -> Tensor:
    """Eq. 11 estimated from drawn members: ``drawn_features`` (k, s, d) are the Ê^m rows of
    :func:`draw_members`' draws; their mean estimates a centre's centroid without bias (``mean``), ``counts``
    (k,) times it the members' sum (``sum``); a centre without members is 0, as in :func:`centre_features`."""
    scale = (counts > 0).to(drawn_features) if norm == "mean" else counts.to(drawn_features)
    return drawn_features.mean(1) * scale[:, None]


def query_tiles(rows: Tensor, positions: Tensor, cells: int) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
    """The queries (sequence ``rows[p]``, position ``positions[p]``) in tiles of at most ``cells`` (sequence,
    position) grid cells: blocks of consecutive sequences, each over the query positions its own queries hold
    (in chunks of positions where one sequence's alone exceed ``cells``). Yields per tile the queries' indices
    into the P (ascending), the tile's positions (ascending) and each query's position slot among them."""
    span = min(int(positions.unique().numel()), cells)  # query positions a tile
    block = max(1, cells // span)  # sequences a tile
    for low in range(0, int(rows.max()) + 1, block):
        in_block = ((rows >= low) & (rows < low + block)).nonzero().squeeze(1)
        if not len(in_block):
            continue
        held, slot = positions[in_block].unique(return_inverse=True)
        for first in range(0, len(held), span):
            part = held[first : first + span]
            chosen = (slot >= first) & (slot < first + len(part))
            yield in_block[chosen], part, slot[chosen] - first


def prefix_mask(seqs: Tensor, positions: Tensor) -> Tensor:
    """(B, Q, L) True where the centres of query position ``positions[q]`` of sequence b may read key position
    s: s <= that position and s not padding. A query with no such key may read itself, so no softmax row is
    empty."""
    keys = torch.arange(seqs.size(1), device=seqs.device)
    allowed = (keys[None, None, :] <= positions[None, :, None]) & (seqs != 0)[:, None, :]
    itself = (keys[None, :] == positions[:, None])[None]
    return allowed | (itself & ~allowed.any(-1, keepdim=True))


def folded_map(attention: MultiHeadAttention, ffn: nn.Sequential) -> tuple[Tensor, Tensor]:
    """Everything linear that follows the attention weights of Eq. 12-14: the output map U of Eq. 14 and the
    two maps of Eq. 15 (no activation between them) compose to one (d, d) matrix M = U^T W1^T W2^T and the bias
    that follows it (d,), computed once per layer and pass."""
    first, second = ffn[0], ffn[1]
    matrix = attention.output.weight.T @ (first.weight.T @ second.weight.T)
    bias = (attention.output.bias @ first.weight.T + first.bias) @ second.weight.T + second.bias
    return matrix, bias


def folded_values(attention: MultiHeadAttention, matrix: Tensor, layer_input: Tensor) -> Tensor:
    """The values of Eq. 12-14 carried through :func:`folded_map`'s M, split by head rows and applied once per
    key instead of once per (query, centre): the per-head values V_h M_h as (B, heads * L, d)."""
    batch, length, width = layer_input.shape
    heads = attention.num_heads
    value = attention.value(layer_input).view(batch, length, heads, width // heads)
    folded = torch.einsum("blhe,hed->bhld", value, matrix.view(heads, width // heads, width))
    return folded.reshape(batch, heads * length, width)


def attention_dropout(weights: Tensor, rate: float, training: bool) -> tuple[Tensor, float]:
    """Dropout of attention weights with the scale left to the caller: each weight is zeroed with probability
    ``rate`` (where a uniform draw falls below it), and the survivors are to be multiplied by the returned
    1 / (1 - rate), which the caller folds into a smaller factor of the product that follows (``F.dropout``
    scales every weight). The boolean mask costs one byte a weight in the backward pass, not four."""
    if not training or rate == 0.0:
        return weights, 1.0
    kept = torch.rand(weights.shape, dtype=weights.dtype, device=weights.device) >= rate
    return torch.where(kept, weights, 0.0), 1.0 / (1.0 - rate)


def centre_attention(
    attention: MultiHeadAttention, fold: tuple[Tensor, Tensor], centres: Tensor, layer_input: Tensor, mask: Tensor
) -> Tensor:
    """Eq. 12-15 before the activation, with a layer's own Q, K, V and U: ``(g W1 + b1) W2 + b2`` where g is
    what the centres read from the sequence, ``fold`` the layer's :func:`folded_map`. ``centres`` is (k, d),
    the same for every query (the first layer), or (B, Q, k, d); ``layer_input`` (B, L, d); ``mask`` (B, Q, L)
    from :func:`prefix_mask`. Returns (B, Q, k, d). Keys and folded values are computed once per sequence,
    shared by its queries.
    Scores are laid out (B, heads, L, Q, k): the softmax over key positions then runs along a dimension
    with Q x k contiguous elements behind it (fast, where a softmax along rows of L elements is slow for
    short L), and each sequence's scores meet its values in one batched product, uncopied."""
    batch, length, width = layer_input.shape
    heads, queries = attention.num_heads, mask.size(1)
    size, k = width // heads, centres.size(-2)
    key = attention.key(layer_input).view(batch, length, heads, size) / math.sqrt(size)
    blocked = torch.zeros(mask.shape, dtype=key.dtype, device=key.device).masked_fill_(~mask, float("-inf"))
    blocked = blocked.transpose(1, 2).contiguous()[:, None, :, :, None]  # (B, 1, L, Q, 1)
    if centres.dim() == 2:  # shared centres: one score table per sequence, the same for every query
        q = attention.query(centres).view(k, heads, size)
        scores = torch.einsum("khe,blhe->bhlk", q, key).contiguous().unsqueeze(3) + blocked  # one pass
    elif (heads - 1) * length < width:  # per-query centres: the query map folded into the keys (cheaper)
        folded_keys = torch.einsum("blhe,hed->bhld", key, attention.query.weight.view(heads, size, width))
        key_bias = torch.einsum("blhe,he->bhl", key, attention.query.bias.view(heads, size))
        # the product taken as (B, Q k, heads L) and transposed: the centres' gradient then comes out contiguous
        # (a transposed one makes the GELU backward of the layer below, which reads it, several times slower)
        scores = torch.bmm(centres.reshape(batch, -1, width), folded_keys.reshape(batch, heads * length, width).mT)
        scores = scores.mT.contiguous().view(batch, heads, length, queries, k) + (key_bias[..., None, None] + blocked)
    else:
        q = attention.query(centres).view(batch, queries, k, heads, size)
        scores = (torch.einsum("bqkhe,blhe->bhlqk", q, key) + blocked).contiguous()
    weights, scale = attention_dropout(scores.softmax(2), attention.dropout, attention.training)
    matrix, bias = fold
    values = folded_values(attention, matrix, layer_input)
    flat = weights.view(batch, heads * length, queries * k).mT  # (B, Q k, heads L), a transposed view
    return torch.baddbmm(bias, flat, values * scale).view(batch, queries, k, width)


class _CentreMix(torch.autograd.Function):
    """Eq. 18-19 with a hand-written backward: the gradient of the centre states, which both products of the
    mix read, is one batched product (P x k x 2 by P x 2 x d) instead of two outer products and their sum."""

    @staticmethod
    def forward(ctx, e_m: Tensor, e_c: Tensor, noise: Tensor | None, tau: float) -> Tensor:
        logits = torch.bmm(e_c, e_m.unsqueeze(2)).squeeze(2)  # (P, k): e_m . e_c
        gamma = ((logits if noise is None else logits + noise) / tau).softmax(-1)  # Eq. 19
        ctx.save_for_backward(e_m, e_c, gamma)
        ctx.tau, ctx.noisy = tau, noise is not None
        return torch.bmm(gamma.unsqueeze(1), e_c).squeeze(1)  # Eq. 18's sum over centres

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, Tensor, Tensor | None, None]:
        e_m, e_c, gamma = ctx.saved_tensors
        d_gamma = torch.bmm(e_c, grad.unsqueeze(2)).squeeze(2)
        d_logits = gamma * (d_gamma - (gamma * d_gamma).sum(1, keepdim=True)) / ctx.tau
        d_e_m = torch.bmm(d_logits.unsqueeze(1), e_c).squeeze(1)
        d_e_c = torch.bmm(torch.stack([d_logits, gamma], 2), torch.stack([e_m, grad], 1))
        return d_e_m, d_e_c, d_logits if ctx.noisy else None, None


def centre_mix(e_m: Tensor, e_c: Tensor, noise: Tensor | None, tau: float) -> Tensor:
    """Eq. 18-19 before the residual: ``sum_c γ_c e_c`` with ``γ = softmax((e_m . e_c + noise) / τ)`` over the
    k centres, for ``e_m`` (P, d) and ``e_c`` (P, k, d); ``noise`` (P, k) is Eq. 19's log δ - log(1 - δ)
    (training), None outside training. Returns (P, d)."""
    return _CentreMix.apply(e_m, e_c, noise, tau)


class CentralizedAttention(nn.Module):
    """L layers of Eq. 12-15 over one modal stream; the attention weights are the stream encoder's."""

    def __init__(self, hidden_size: int, inner_size: int, num_layers: int) -> None:
        super().__init__()
        self.maps = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_size, inner_size), nn.Linear(inner_size, hidden_size))
            for _ in range(num_layers)
        )

    def forward(
        self,
        centres: Tensor,
        layer_inputs: list[Tensor],
        attentions: list[MultiHeadAttention],
        seqs: Tensor,
        rows: Tensor,
        positions: Tensor,
        reduce: Callable[[Tensor, Tensor], Tensor] | None = None,
    ) -> tuple[Tensor, Tensor]:
        """``centres`` (k, d): Ê_c^m. ``layer_inputs[l]``: E_u^{m,l} (B, L, d). Returns E_c^m (P, k, d), the
        centres after L layers (Eq. 16) for the queries (sequence ``rows[p]``, position ``positions[p]``) in
        the order it computes them, and that order (P,): ``states[i]`` belongs to query ``order[i]``, so the
        caller reorders its (P, d) vectors rather than the P x k x d states. The queries go in the tiles of
        :func:`query_tiles`, whose states and attention weights stay within ``CPU_TILE_ELEMENTS`` on CPU (what
        its cache holds: a tile's passes over its states, forward and backward, stay there instead of streaming
        P x k x d through memory) and ``DEVICE_TILE_ELEMENTS`` elsewhere; a tile is computed for its sequences
        at its query positions only, and keeps the states of its queries only. With ``reduce``, each tile's
        states (n, k, d) and its queries (n,) go through ``reduce(states, queries)``, and what it returns is kept
        instead (MDSRec's Eq. 18-19 mix: (n, d) a tile rather than n x k x d). Where there are several tiles,
        training recomputes each in the backward pass (activation checkpointing, random draws included), so
        memory grows with the queries, not with B x L x k x L, and with ``reduce`` not with their states either."""
        width, heads = layer_inputs[0].size(-1), attentions[0].num_heads
        budget = CPU_TILE_ELEMENTS if seqs.device.type == "cpu" else DEVICE_TILE_ELEMENTS
        cells = max(1, budget // (centres.size(-2) * (width + heads * seqs.size(1))))
        tiles = list(query_tiles(rows, positions, cells))
        folds = [folded_map(attention, ffn) for attention, ffn in zip(attentions, self.maps)]  # once, not a tile
        recompute = self.training and torch.is_grad_enabled() and len(tiles) > 1
        kept, asked = [], []
        for inside, part, slot in tiles:
            active, local = rows[inside].unique(return_inverse=True)  # the tile's sequences
            pick = local * len(part) + slot  # each query's cell in the grid active x part
            whole = len(inside) == len(active) * len(part)  # every grid cell is a query: keep the grid's order
            order = inside[torch.argsort(pick)] if whole else inside  # the query each state belongs to
            inputs = (
                *(centres, layer_inputs, attentions, folds, seqs),
                *(active, part, None if whole else pick, order, reduce),
            )
            kept.append(checkpoint(self.queries, *inputs, use_reentrant=False) if recompute else self.queries(*inputs))
            asked.append(order)
        return (kept[0], asked[0]) if len(kept) == 1 else (torch.cat(kept), torch.cat(asked))

    def queries(
        self,
        centres: Tensor,
        layer_inputs: list[Tensor],
        attentions: list[MultiHeadAttention],
        folds: list[tuple[Tensor, Tensor]],
        seqs: Tensor,
        active: Tensor,
        part: Tensor,
        pick: Tensor | None,
        order: Tensor,
        reduce: Callable[[Tensor, Tensor], Tensor] | None,
    ) -> Tensor:
        """Eq. 12-15 through every layer (``folds[l]``: layer l's :func:`folded_map`) at the positions ``part``
        of the sequences ``active``, then the states ``pick`` (indices into active x part, row-major; None: all
        of them in that order), those of the queries ``order``: (len(pick), k, d), or ``reduce(states, order)``."""
        mask = prefix_mask(seqs[active], part)
        state = centres
        for layer, (attention, fold) in enumerate(zip(attentions, folds)):
            state = F.gelu(centre_attention(attention, fold, state, layer_inputs[layer][active], mask))  # Eq. 12-15
        state = state.flatten(0, 1)
        # index_select on flattened rows: its backward is about 2x faster than that of indexing two dimensions
        state = state if pick is None else state.index_select(0, pick)
        return state if reduce is None else reduce(state, order)
