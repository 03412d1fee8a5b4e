"""Train, early-stop and evaluate one model on one dataset; print the test metrics; write results.json.

    python experiments/run.py                                  # MDSRec on the embedded synthetic set
    python experiments/run.py --dataset scientific --data-dir ../shared/datasets --model sasrec
    python experiments/run.py --dataset clothing --data-dir ../shared/datasets --device cuda     # one GPU
    torchrun --nproc_per_node 4 experiments/run.py --dataset clothing --data-dir ../shared/datasets --device cuda
    torchrun --nproc_per_node 2 experiments/run.py --model sasrec                  # two CPU processes (gloo)
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from mdsrec_pyg import distributed
from mdsrec_pyg.config import build_config
from mdsrec_pyg.experiment import command_line, load_run_config, run_experiment

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


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.device or os.environ.get("WORLD_SIZE"):  # under torchrun: join the process group, pick the device
        args.device = distributed.setup(args.device or "cpu")
    if args.resume:
        return run_experiment(load_run_config(args.resume), args.resume, resume=True)
    overrides = {k: v for k, v in {"model": args.model, "data_dir": args.data_dir, "epochs": args.epochs,
                                   "seed": args.seed, "device": args.device}.items() if v is not None}
    config = build_config(args.dataset, overrides, args.sets)
    out_dir = args.out or Path("runs") / Path(config.dataset).name / f"{config.model}-{config.seed}"
    return run_experiment(config, out_dir)


if __name__ == "__main__":
    command_line(main)
