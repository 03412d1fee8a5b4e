"""Dataset names -> a folder and a reader. The format of a folder is detected from the files in it."""

from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..names import check_dataset
from .dataset import SequentialDataset
from .readers import read_mmrec, read_sequence_file, read_unisrec
from .synthetic import make_synthetic


def detect_format(folder: Path) -> str:
    """``unisrec``, ``mmrec`` or ``sequence_file``, from the files in ``folder``."""
    if list(folder.glob("*.item2index")):
        return "unisrec"
    if (folder / "user_sequence.txt").is_file():
        return "sequence_file"
    if len(list(folder.glob("*.inter"))) == 1:
        return "mmrec"
    raise InputError(
        folder,
        "no known format: expected *.item2index (UniSRec/MISSRec), user_sequence.txt "
        "(one user a line) or one {name}.inter (MMRec)",
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
    stem = next(folder.glob("*.inter")).stem
    dataset = read_mmrec(folder, name=stem, extra_feature_dir=extra_dir)
    dataset.name = folder.name
    return dataset
