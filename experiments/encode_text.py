"""Assemble item feature matrices for a dataset that has item text but no vectors (e.g. ``scientific``).

    python experiments/encode_text.py --dataset scientific --data-dir ../shared/datasets --image-from scientific_mm
    python experiments/encode_text.py --dataset sports --data-dir ../shared/datasets

Writes ``<feature-dir>/<dataset>/text_feat.npy`` (all-MiniLM-L6-v2, 384-d, empty texts filled with the mean),
``items.txt`` (the original item id of each row) and, with ``--image-from``, ``image_feat.npy`` matched by
original item id from that dataset's ``image`` features, the items without one filled with the mean vector
(as MMRec does); rows follow the dataset's own item order, so ``load_dataset`` picks them up as modalities
``text`` and ``image`` (for a one-user-a-line dataset, through ``items.txt``). Coverage is printed and stored
in ``features.json``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.data.features import encode_texts, fill_missing_with_mean, match_by_id
from mdsrec_pyg.errors import InputError


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--feature-dir", default="data/features")
    parser.add_argument("--image-from", help="a dataset whose 'image' features are matched by item id")
    args = parser.parse_args(argv)

    dataset = load_dataset(args.dataset, args.data_dir, feature_dir=None)
    if dataset.item_text is None:
        raise InputError(args.dataset, "the dataset has no item text to encode")
    out = Path(args.feature_dir) / Path(args.dataset).name
    items = dataset.item_ids[1:]
    texts = dataset.item_text[1:]
    has_text = np.array([bool(t.strip()) for t in texts])
    text = fill_missing_with_mean(encode_texts([t if t.strip() else "" for t in texts]), has_text)
    io.save_npy(out / "text_feat.npy", text)
    io.write_text(out / "items.txt", "\n".join(items) + "\n")  # row order, for readers that match by id
    meta = {
        "items": len(items),
        "text": {"encoder": "all-MiniLM-L6-v2", "dim": int(text.shape[1]), "coverage": float(has_text.mean())},
    }
    print(f"text: {text.shape}, {has_text.sum()}/{len(items)} items have text ({has_text.mean():.1%})")
    if args.image_from:
        source = load_dataset(args.image_from, args.data_dir, feature_dir=None)
        if "image" not in source.features:
            raise InputError(args.image_from, "has no 'image' features to match")
        matrix, present = match_by_id(items, source.item_ids[1:], source.features["image"][1:].numpy())
        image = fill_missing_with_mean(matrix, present)
        io.save_npy(out / "image_feat.npy", image)
        meta["image"] = {
            "source": args.image_from,
            "dim": int(image.shape[1]),
            "coverage": float(present.mean()),
            "matched": int(present.sum()),
            "filled_with_mean": int((~present).sum()),
        }
        print(
            f"image: {image.shape}, {present.sum()}/{len(items)} items matched by id in {args.image_from} "
            f"({present.mean():.1%}), the rest filled with the mean vector"
        )
    io.write_json(out / "features.json", meta)
    print(f"written {out}")
    return meta


if __name__ == "__main__":
    command_line(main)
