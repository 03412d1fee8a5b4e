"""MISSRec (Wang et al., ACM MM 2023: "MISSRec: pre-training and transferring multi-modal interest-aware
sequence representation for recommendation").

Each item is a set of tokens (its ID embedding and each modality's projected features, with a token-type
embedding); a learned query fuses them per item by attention (MISSRec's dynamic fusion), giving the item
table that both the inputs and the scores use. Interest tokens summarise the sequence: every item is softly
assigned to ``interests`` learned prototypes and each interest token is the assignment-weighted mean of the
items so far (causal, so that every position can be trained). A SASRec transformer encodes the fused item
sequence, and each position's state attends over its interest tokens (MISSRec's interest-aware decoder),
with a residual connection and LayerNorm.

Differences from the original: there is no pre-training corpus here, so the fine-tuning model is trained
from scratch on the target dataset with cross-entropy over all items; MISSRec finds interest tokens by
clustering the multimodal tokens of the sequence and encodes them with a transformer encoder, here the
clustering is the soft, causal assignment above; the ID token makes this the transductive setting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from ..config import Config, integer, setting
from ..losses import ItemSoftmax
from ..nn.modal import IdEmbedding, ModalProjection
from ..nn.transformer import LAYER_NORM_EPS, EncoderOptions, SequenceEncoder, init_weights
from .base import ItemTableRecommender


@dataclass
class MISSRecOptions(EncoderOptions):
    interests: int = setting(4, integer(1))  # interest tokens


class InterestTokens(nn.Module):
    """Causal interest tokens: I[b, l, j] = Σ_{t<=l} a[b,t,j] x[b,t] / Σ_{t<=l} a[b,t,j], a = softmax_j(x·p_j/√d)."""

    def __init__(self, hidden_size: int, interests: int) -> None:
        super().__init__()
        self.prototypes = nn.Parameter(torch.empty(interests, hidden_size))
        nn.init.normal_(self.prototypes, std=0.02)

    def forward(self, x: Tensor, keep: Tensor) -> Tensor:  # (B, L, d), (B, L, 1) -> (B, L, J, d)
        weights = (x @ self.prototypes.T / math.sqrt(x.size(-1))).softmax(-1) * keep
        totals = (weights.unsqueeze(-1) * x.unsqueeze(-2)).cumsum(1)
        return totals / weights.cumsum(1).unsqueeze(-1).clamp(min=1e-9)


class MISSRec(ItemTableRecommender):
    sparse_item_table = False  # its table is computed from every item's features on every step
    description = "MISSRec (Wang et al. 2023): fused item tokens and interest tokens"
    reads_features = True
    Options = MISSRecOptions

    def __init__(
        self, num_items: int, features: dict[str, Tensor], config: Config, softmax: ItemSoftmax | None = None
    ) -> None:
        super().__init__(softmax)
        d = config.options.hidden_size
        self.items = IdEmbedding(num_items, d)
        self.modal = ModalProjection(features, d)
        self.token_type = nn.Parameter(torch.zeros(1 + len(features), d))
        self.fusion_query = nn.Parameter(torch.zeros(d))
        self.interest_tokens = InterestTokens(d, config.options.interests)
        self.encoder = SequenceEncoder.of(config.options, config.data.max_len)
        self.interest_query = nn.Linear(d, d)
        self.interest_value = nn.Linear(d, d)
        self.output_norm = nn.LayerNorm(d, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(config.options.dropout)
        self.apply(init_weights)
        self.items.zero_padding()

    def item_tables(self) -> Tensor:
        """Every item's tokens fused by attention to a learned query (num_items, d); padding row zero."""
        tokens = torch.stack([self.items.id_embedding.weight, *self.modal().values()], dim=1)
        tokens = tokens + self.token_type  # (N, 1 + M, d)
        weights = (tokens @ self.fusion_query / math.sqrt(tokens.size(-1))).softmax(-1)
        table = (weights.unsqueeze(-1) * tokens).sum(1)
        return torch.cat([torch.zeros_like(table[:1]), table[1:]])

    def encode(self, inputs: Tensor, table: Tensor) -> tuple[Tensor, Tensor]:
        x = table[inputs]
        keep = (inputs != 0).unsqueeze(-1).to(x.dtype)
        interests = self.interest_tokens(x, keep)  # (B, L, J, d)
        states = self.encoder(x, inputs)[-1]
        scores = torch.einsum("bld,bljd->blj", self.interest_query(states), interests) / math.sqrt(x.size(-1))
        attended = torch.einsum("blj,bljd->bld", scores.softmax(-1), self.interest_value(interests))
        return self.output_norm(states + self.dropout(attended)), table
