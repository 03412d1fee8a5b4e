"""One module per file format; each returns a :class:`~mdsrec_pyg.data.dataset.SequentialDataset`."""

from .mmrec import read_mmrec
from .recbole import read_recbole
from .sequence_file import read_sequence_file
from .unisrec import read_unisrec

__all__ = ["read_mmrec", "read_recbole", "read_sequence_file", "read_unisrec"]
