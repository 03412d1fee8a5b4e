"""Train, early-stop and evaluate one model on one dataset; print the test metrics; write results.json.

    python experiments/run.py                                  # MDSRec on the embedded synthetic set
    python experiments/run.py --dataset scientific --data-dir ../shared/datasets --model sasrec
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

from mdsrec_pyg import io
from mdsrec_pyg.config import build_config
from mdsrec_pyg.data import load_dataset
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.models import build_model
from mdsrec_pyg.train import Trainer, TrainingError

DEFAULT_MODEL = "mdsrec"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="synthetic", help="a known dataset name or a dataset folder")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--data-dir", default="data", help="folder holding one sub-folder per dataset")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu or cuda")
    parser.add_argument("--out", help="output folder (default runs/<dataset>/<model>-<seed>)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last checkpoint "
                                                            "(its config.json is used; other options are ignored)")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="override any config field, e.g. --set lr=1e-3 --set hidden_size=64")
    return parser.parse_args(argv)


def format_table(results: dict) -> str:
    keys = list(results["test"])
    lines = ["| split | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for split in ("valid", "test"):
        lines.append(f"| {split} | " + " | ".join(f"{results[split][k]:.4f}" for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.resume:
        saved = Path(args.resume) / "config.json"
        if not saved.is_file():
            raise InputError(saved, "not found: --resume needs a run folder written by run.py")
        try:
            saved_config = json.loads(saved.read_text())
        except json.JSONDecodeError as err:
            raise InputError(saved, f"not valid JSON ({err.msg} at line {err.lineno})") from None
        config = build_config(saved_config["dataset"], saved_config)
        args.out = args.resume
    else:
        overrides = {k: v for k, v in {"model": args.model, "data_dir": args.data_dir, "epochs": args.epochs,
                                       "seed": args.seed, "device": args.device}.items() if v is not None}
        config = build_config(args.dataset, overrides, args.sets)
    dataset = load_dataset(config.dataset, config.data_dir, config.feature_dir)
    stats = dataset.statistics()
    print(f"{dataset.name}: " + ", ".join(f"{k} {v:,.4f}".rstrip("0").rstrip(".") if isinstance(v, float)
                                          else f"{k} {v:,}" for k, v in stats["paper"].items())
          + " (Table 1 conventions: padding counted, inters = training targets)")
    print(f"features: " + (", ".join(f"{m} {tuple(t.shape)}" for m, t in dataset.features.items()) or "none"))
    split = dataset.split()
    model = build_model(config, dataset, split)
    out_dir = Path(args.out) if args.out else Path("runs") / dataset.name / f"{config.model}-{config.seed}"
    io.write_json(out_dir / "config.json", config.to_dict())
    trainer = Trainer(model, split, config, dataset.num_items, out_dir)
    results = trainer.fit(resume=bool(args.resume))
    results["statistics"] = stats
    io.write_json(out_dir / "results.json", results)
    print(f"\n{config.model} on {dataset.name}: best epoch {results['best_epoch']}, "
          f"{results['seconds']:.1f}s\n{format_table(results)}\nwritten {out_dir / 'results.json'}")
    return results


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    try:
        main()
    except (InputError, TrainingError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
