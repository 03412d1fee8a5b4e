"""Neural building blocks: the SASRec transformer (shared by every sequence model here)."""

from .transformer import MultiHeadAttention, SequenceEncoder, TransformerBlock, causal_padding_mask

__all__ = ["MultiHeadAttention", "SequenceEncoder", "TransformerBlock", "causal_padding_mask"]
