"""The dataset names a command line accepts and where each dataset's folder is, importable without torch (the
readers are in ``data/registry.py``; the models are listed once, in ``models/__init__.py``)."""

from __future__ import annotations

from pathlib import Path

from .errors import InputError, shorten

PAPER_DATASETS = ("scientific", "pantry", "baby", "sports", "clothing")
KNOWN_DATASETS = ("synthetic",) + PAPER_DATASETS + ("scientific_mm",)
DATASET_NOTES: dict[str, str] = {
    "synthetic": "embedded: generated from a seed, no files needed",
    "scientific": "UniSRec/MISSRec format (Scientific.item2index, .inter files, Scientific.text)",
    "scientific_mm": "the multimodal subset of scientific with CLIP vectors (Scientific.feat1CLS / .feat3CLS)",
    "pantry": "UniSRec/MISSRec's Pantry (Pantry.item2index, Pantry.{train,valid,test}.inter, Pantry.text)",
    "baby": "MMRec's Baby (baby.inter, image_feat.npy, text_feat.npy)",
    "sports": "MMRec's Sports (sports.inter, image_feat.npy, text_feat.npy) or a user_sequence.txt",
    "clothing": "MMRec's Clothing (clothing.inter, image_feat.npy, text_feat.npy) or a user_sequence.txt",
}


def dataset_name(dataset: str) -> str:
    """A dataset's resolved name: a folder path counts by its last part (``path/to/clothing/`` is clothing)."""
    return Path(dataset.rstrip("/\\")).name


def is_folder(path: str | Path) -> bool:
    """Whether ``path`` is a folder; False, not an error, for a path the system cannot even look up (too long)."""
    try:
        return Path(path).is_dir()
    except OSError:
        return False


def dataset_folder(name: str, data_dir: str | Path) -> Path:
    """Where ``name`` is read from: the folder itself when ``name`` is one, else ``data_dir/name``."""
    return Path(name) if is_folder(name) else Path(data_dir) / name


def check_dataset(name: str, data_dir: str | Path) -> Path:
    """The folder of dataset ``name``: a folder path, any folder under ``data_dir`` by its name, or a known
    name; one line saying what to put where when it is unknown or missing. Reads no data."""
    if name == "synthetic":
        return Path(name)
    if name not in KNOWN_DATASETS and not is_folder(name) and not is_folder(Path(data_dir) / name):
        raise InputError(
            "--dataset",
            f"unknown dataset {shorten(name)}: no folder {shorten(str(Path(data_dir) / name))}; expected a folder "
            f"under --data-dir {data_dir}, a dataset folder, or one of {', '.join(KNOWN_DATASETS)}",
        )
    folder = dataset_folder(name, data_dir)
    if not is_folder(folder):
        raise InputError(
            "--dataset",
            f"{name}: no folder {folder}; put {DATASET_NOTES[name]} there (README, "
            f"'Datasets'), or give --data-dir the folder that holds {name}/",
        )
    return folder


def list_datasets(data_dir: str | Path) -> str:
    """The known datasets, found or not, then every other folder under ``data_dir`` (a dataset by its name)."""
    others = sorted(p.name for p in Path(data_dir).iterdir() if p.is_dir()) if is_folder(data_dir) else []
    others = [name for name in others if name not in KNOWN_DATASETS and name != "features"]
    width = max(map(len, [*KNOWN_DATASETS, *others]))
    lines = []
    for name in KNOWN_DATASETS:
        folder = Path(data_dir) / name
        where = (
            "built in"
            if name == "synthetic"
            else (f"found at {folder}" if folder.is_dir() else f"not found at {folder}")
        )
        lines.append(f"{name:<{width}}  {where:<40}  {DATASET_NOTES[name]}")
    for name in others:
        lines.append(f"{name:<{width}}  {'found at ' + str(Path(data_dir) / name):<40}  a folder under --data-dir")
    return "\n".join(lines)
