"""The SASRec transformer (Kang and McAuley 2018), written once and read top to bottom.

Post-norm blocks as in SASRec and RecBole: ``x = LN(x + Drop(MHA(x)))``, ``x = LN(x + Drop(FFN(x)))`` with a
GELU feed-forward. :class:`MultiHeadAttention` takes queries and keys/values separately, so that MDSRec's
centralized attention (Eq. 12-14) can reuse a layer's Q, K, V and output weights with interest centres as
queries. Sequences are left-padded with item 0; position embeddings count back from the most recent item,
so the last position always holds the newest item.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import Config, InputError, Options, integer, real, setting

LAYER_NORM_EPS = 1e-12


@dataclass
class EncoderOptions(Options):
    """A SASRec-style transformer encoder (the defaults MISSRec used on these datasets)."""

    hidden_size: int = setting(300, integer(1))
    num_layers: int = setting(2, integer(1))
    num_heads: int = setting(4, integer(1))
    inner_size: int = setting(256, integer(1))
    dropout: float = setting(0.5, real(0.0, 1.0, high_open=True))

    def check(self, config: Config) -> None:
        if self.hidden_size % self.num_heads:
            raise InputError(
                f"setting {config.model}.num_heads",
                f"got {self.num_heads}; expected a divisor of hidden_size {self.hidden_size}",
            )


def causal_padding_mask(seqs: Tensor, causal: bool = True) -> Tensor:
    """Boolean mask (B, 1, L, L), True where query position i may attend to key position j: key j is not
    padding and, when ``causal``, j <= i. A padded query may attend to itself so that no softmax row is empty."""
    length = seqs.size(1)
    allowed = (seqs != 0)[:, None, None, :]
    if causal:
        allowed = allowed & torch.ones(length, length, dtype=torch.bool, device=seqs.device).tril()
    return allowed | torch.eye(length, dtype=torch.bool, device=seqs.device)


class MultiHeadAttention(nn.Module):
    """Multi-head scaled dot-product attention; ``query`` (Q_h), ``key`` (K_h), ``value`` (V_h), ``output`` (U)."""

    def __init__(self, hidden_size: int, num_heads: int, dropout: float) -> None:
        super().__init__()
        if hidden_size % num_heads:
            raise ValueError(f"hidden_size {hidden_size} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.query = nn.Linear(hidden_size, hidden_size)
        self.key = nn.Linear(hidden_size, hidden_size)
        self.value = nn.Linear(hidden_size, hidden_size)
        self.output = nn.Linear(hidden_size, hidden_size)
        self.dropout = dropout

    def split_heads(self, x: Tensor) -> Tensor:
        *lead, length, width = x.shape
        return x.view(*lead, length, self.num_heads, width // self.num_heads).transpose(-3, -2)

    def forward(self, queries: Tensor, keys_values: Tensor, mask: Tensor) -> Tensor:
        """``queries`` (..., Lq, d) attend over ``keys_values`` (..., Lk, d); ``mask`` broadcasts to
        (..., heads, Lq, Lk), True where allowed."""
        q = self.split_heads(self.query(queries))
        k = self.split_heads(self.key(keys_values))
        v = self.split_heads(self.value(keys_values))
        drop = self.dropout if self.training else 0.0
        heads = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        merged = heads.transpose(-3, -2).flatten(-2)
        return self.output(merged)


class FeedForward(nn.Module):
    def __init__(self, hidden_size: int, inner_size: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, inner_size)
        self.fc2 = nn.Linear(inner_size, hidden_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class TransformerBlock(nn.Module):
    def __init__(self, hidden_size: int, num_heads: int, inner_size: int, dropout: float) -> None:
        super().__init__()
        self.attention = MultiHeadAttention(hidden_size, num_heads, dropout)
        self.norm1 = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.feed_forward = FeedForward(hidden_size, inner_size)
        self.norm2 = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        x = self.norm1(x + self.dropout(self.attention(x, x, mask)))
        return self.norm2(x + self.dropout(self.feed_forward(x)))


class SequenceEncoder(nn.Module):
    """``Trm^L(E[S^u] + P)`` (MDSRec Eq. 7-9): item embeddings in, one hidden state per position out."""

    def __init__(
        self,
        max_len: int,
        hidden_size: int,
        num_layers: int,
        num_heads: int,
        inner_size: int,
        dropout: float,
        causal: bool = True,
    ) -> None:
        super().__init__()
        self.max_len = max_len
        self.causal = causal  # False: bidirectional (BERT4Rec)
        self.position = nn.Embedding(max_len, hidden_size)
        self.norm = nn.LayerNorm(hidden_size, eps=LAYER_NORM_EPS)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(
            TransformerBlock(hidden_size, num_heads, inner_size, dropout) for _ in range(num_layers)
        )

    @classmethod
    def of(cls, options: EncoderOptions, max_len: int, causal: bool = True) -> "SequenceEncoder":
        """The encoder a model's :class:`EncoderOptions` describe, over sequences of ``max_len`` items."""
        return cls(
            max_len,
            options.hidden_size,
            options.num_layers,
            options.num_heads,
            options.inner_size,
            options.dropout,
            causal,
        )

    def embed(self, item_embeddings: Tensor) -> Tensor:
        """Add positions (counted back from the newest item), then LayerNorm and dropout."""
        length = item_embeddings.size(1)
        positions = torch.arange(self.max_len - length, self.max_len, device=item_embeddings.device)
        return self.dropout(self.norm(item_embeddings + self.position(positions)))

    def forward(self, item_embeddings: Tensor, seqs: Tensor) -> list[Tensor]:
        """Hidden states of every layer: ``[E^0, E^1, ..., E^L]``, each (B, L, d); ``E^L`` is the output."""
        mask = causal_padding_mask(seqs, self.causal)
        states = [self.embed(item_embeddings)]
        for block in self.blocks:
            states.append(block(states[-1], mask))
        return states


def init_weights(module: nn.Module) -> None:
    """Normal(0, 0.02) for linear and embedding weights, zero biases (SASRec/RecBole's initialisation)."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
    if isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)
