"""Dataset names -> a folder and a reader. The format of a folder is detected from the files in it."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..names import check_dataset
from .dataset import SequentialDataset
from .readers import read_mmrec, read_recbole, read_sequence_file, read_unisrec
from .readers.common import lines
from .readers.recbole import is_atomic_header
from .synthetic import make_synthetic


def detect_format(folder: Path) -> str:
    """``unisrec``, ``sequence_file``, ``recbole`` or ``mmrec``, from the files in ``folder`` (one ``.inter``
    file is RecBole's when its header is typed, ``field:type``, else MMRec's)."""
    if list(folder.glob("*.item2index")):
        return "unisrec"
    if (folder / "user_sequence.txt").is_file():
        return "sequence_file"
    inter = list(folder.glob("*.inter"))
    if len(inter) == 1:
        first = next(lines(inter[0]), (1, ""))[1]
        return "recbole" if is_atomic_header(first) else "mmrec"
    raise InputError(
        folder,
        "no known format: expected *.item2index (UniSRec/MISSRec), user_sequence.txt "
        "(one user a line) or one {name}.inter (RecBole's atomic files, or MMRec's)",
    )


def load_dataset(
    name: str, data_dir: str | Path = "data", feature_dir: str | Path | None = "data/features", seed: int = 0
) -> SequentialDataset:
    """Load ``name`` (a known dataset under ``data_dir``, ``synthetic``, or a folder path).

    Extra ``<modality>_feat.npy`` files under ``feature_dir/<name>/`` (written by
    ``experiments/encode_text.py``) are added to the features the folder itself holds; ``None`` skips them.
    """
    if name == "synthetic":
        return make_synthetic(seed)
    folder = check_dataset(name, data_dir)
    extra = Path(feature_dir) / folder.name if feature_dir is not None else None
    extra_dir = extra if extra is not None and extra.is_dir() else None
    fmt = detect_format(folder)
    if fmt == "unisrec":
        return read_unisrec(folder, name=folder.name, extra_feature_dir=extra_dir)
    if fmt == "sequence_file":
        return read_sequence_file(folder, name=folder.name, extra_feature_dir=extra_dir)
    if fmt == "recbole":
        return read_recbole(folder, name=folder.name, extra_feature_dir=extra_dir)
    stem = next(folder.glob("*.inter")).stem
    dataset = read_mmrec(folder, name=stem, extra_feature_dir=extra_dir)
    dataset.name = folder.name
    return dataset
