"""Stand-in item features of the paper's sizes for a dataset that has none (e.g. ``clothing``), so that
MDSRec and the feature baselines can be run on it for speed, memory and scale (never for accuracy).

    python experiments/stand_in_features.py --dataset clothing --data-dir ../shared/datasets

Writes ``<feature-dir>/<dataset>/{image,text}_feat.npy`` (4,096-d and 384-d, MMRec's widths) with an
``items.txt`` listing the original item id of each row, which later loads of the dataset pick up. The
vectors are random with a low intrinsic dimension (``bench.py``'s stand-in features: a 64-d latent per
item, its random topic's centre plus noise, mapped to the width); every figure made with them must say so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.benchmarks import with_stand_in_features
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import load_dataset


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--feature-dir", default="data/features")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    dataset = with_stand_in_features(load_dataset(args.dataset, args.data_dir, feature_dir=None), args.seed)
    out = Path(args.feature_dir) / Path(args.dataset).name
    written = [io.write_text(out / "items.txt", "\n".join(dataset.item_ids[1:]) + "\n")]
    for modality, matrix in dataset.features.items():
        written.append(io.save_npy(out / f"{modality}_feat.npy", matrix[1:].numpy()))
    for path in written:
        print(f"wrote {path}")
    return written


if __name__ == "__main__":
    command_line(main)
