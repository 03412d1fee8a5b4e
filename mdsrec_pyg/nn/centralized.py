"""Interest-centralized attention (MDSRec Eq. 10-16).

k-means on the raw modal features gives each item a centre (Eq. 10); ``C^m`` (k x |X|) is held as that
assignment, and centre features ``Ê_c^m = C^m Ê^m`` (Eq. 11) are the mean (``centre_norm="mean"``, default:
each centre is the centroid of its members in the propagated space) or the sum of their members' rows,
recomputed on every forward pass as Ê^m changes.

The centres then attend over the modal stream's sequence (Eq. 12-14) with the *same* query, key, value and
output weights as the stream's transformer layer l, reading that layer's input ``E_u^{m,l-1}``, followed
by the two-layer map of Eq. 15, ``σ((g W1 + b1) W2 + b2)`` with σ = GELU (the transformer's activation);
as in the paper there is no residual connection. The causal mask holds: the centres computed for position
t see positions <= t only, so there is one set of k centre features per query position.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch_geometric.utils import scatter

from .transformer import MultiHeadAttention

KMEANS_FULL_MAX_ITEMS = 100_000


def kmeans_assignment(features: Tensor, k: int, seed: int = 0) -> Tensor:
    """Eq. 10: the centre (0..k-1) of each item 1..n-1 of ``features`` (row 0, padding, is left out)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans

    data = features[1:].float().numpy()
    k = max(1, min(k, len(data)))
    if len(data) <= KMEANS_FULL_MAX_ITEMS:
        model = KMeans(n_clusters=k, n_init=3, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=k, n_init=3, random_state=seed, batch_size=4096)
    return torch.from_numpy(model.fit_predict(data).astype(np.int64))


def centre_features(item_features: Tensor, assignment: Tensor, k: int, norm: str = "mean") -> Tensor:
    """Eq. 11: ``C^m Ê^m`` for items 1..n-1 of ``item_features`` (n, d) -> (k, d)."""
    if norm not in ("mean", "sum"):
        raise ValueError(f"centre_norm must be mean or sum, got {norm!r}")
    return scatter(item_features[1:], assignment, dim=0, dim_size=k, reduce=norm)


def prefix_mask(seqs: Tensor, rows: Tensor, positions: Tensor) -> Tensor:
    """(P, L) True where the centres of query (rows[p], positions[p]) may read key position s: s <= the query
    position and s not padding. A query with no such key may read itself, so no softmax row is empty."""
    keys = torch.arange(seqs.size(1), device=seqs.device)
    allowed = (keys[None, :] <= positions[:, None]) & (seqs[rows] != 0)
    itself = keys[None, :] == positions[:, None]
    return allowed | (itself & ~allowed.any(-1, keepdim=True))


def attend_from_centres(attention: MultiHeadAttention, centres: Tensor, layer_input: Tensor, rows: Tensor,
                        mask: Tensor) -> Tensor:
    """Eq. 12-14 with a layer's own Q, K, V and U: the centres (P, k, d) of query p attend over the layer
    input of sequence ``rows[p]`` (``layer_input`` is (B, L, d)); keys and values are projected once per
    sequence, then gathered for its queries."""
    q = attention.split_heads(attention.query(centres))  # (P, h, k, e)
    key = attention.split_heads(attention.key(layer_input))[rows]  # (P, h, L, e)
    value = attention.split_heads(attention.value(layer_input))[rows]
    drop = attention.dropout if attention.training else 0.0
    out = F.scaled_dot_product_attention(q, key, value, attn_mask=mask[:, None, None, :], dropout_p=drop)
    return attention.output(out.transpose(-3, -2).flatten(-2))


class CentralizedAttention(nn.Module):
    """L layers of Eq. 12-15 over one modal stream; the attention weights are the stream encoder's."""

    def __init__(self, hidden_size: int, inner_size: int, num_layers: int) -> None:
        super().__init__()
        self.maps = nn.ModuleList(
            nn.Sequential(nn.Linear(hidden_size, inner_size), nn.Linear(inner_size, hidden_size))
            for _ in range(num_layers))

    def forward(self, centres: Tensor, layer_inputs: list[Tensor], attentions: list[MultiHeadAttention],
                seqs: Tensor, rows: Tensor, positions: Tensor) -> Tensor:
        """``centres`` (k, d): Ê_c^m. ``layer_inputs[l]``: E_u^{m,l} (B, L, d). Returns E_c^m (P, k, d), the
        centres after L layers (Eq. 16) for each query (sequence ``rows[p]``, position ``positions[p]``)."""
        mask = prefix_mask(seqs, rows, positions)
        state = centres.expand(len(rows), *centres.shape)
        for layer, (attention, ffn) in enumerate(zip(attentions, self.maps)):
            g = attend_from_centres(attention, state, layer_inputs[layer], rows, mask)
            state = F.gelu(ffn(g))  # Eq. 15
        return state
