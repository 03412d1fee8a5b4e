"""Train, early-stop and evaluate one model on one dataset; print the test metrics; write results.json.

    python experiments/run.py                                  # MDSRec on the embedded synthetic set
    python experiments/run.py --dataset scientific --data-dir ../shared/datasets --model sasrec
    python experiments/run.py --config my-run.yaml --set lr=3e-4         # a config file, one value overridden
    python experiments/run.py --list models                              # or: --list datasets
    python experiments/run.py --dataset clothing --data-dir ../shared/datasets --device cuda     # one GPU
    torchrun --nproc_per_node 4 experiments/run.py --dataset clothing --data-dir ../shared/datasets --device cuda
    torchrun --nproc_per_node 2 experiments/run.py --model sasrec                  # two CPU processes (gloo)

Settings, later ones winning: the defaults of mdsrec_pyg/config.py, the dataset's own (the paper's H and k),
``--config FILE`` (JSON or YAML, the keys of --set; it may also name dataset, model, data_dir, epochs,
seed, device), the flags, then ``--set KEY=VALUE``. Names and values are checked before any data is read.
"""

from __future__ import annotations

import argparse
import os

from mdsrec_pyg.cli import add_set_argument, command_line
from mdsrec_pyg.config import build_config, read_config_file
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.names import MODEL_NAMES, check_dataset, list_datasets, list_models

DEFAULTS = {"dataset": "synthetic", "model": "mdsrec", "data_dir": "data"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--dataset", help="a known dataset name or a dataset folder (default synthetic; --list datasets)"
    )
    parser.add_argument("--model", help="default mdsrec; --list models")
    parser.add_argument("--data-dir", help="folder holding one sub-folder per dataset (default data)")
    parser.add_argument("--config", metavar="FILE", help="a JSON or YAML file of settings (the keys of --set)")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--device", help="cpu or cuda")
    parser.add_argument("--threads", type=int, help="CPU threads of this run (default: the cores not busy)")
    parser.add_argument(
        "--out",
        help="output folder (default runs/<dataset>/<model>-<seed>[-<hash of the "
        "settings that differ from the defaults>])",
    )
    parser.add_argument(
        "--resume",
        metavar="RUN_DIR",
        help="continue the run in RUN_DIR from its last checkpoint "
        "(its config.json is used; other options are ignored)",
    )
    parser.add_argument(
        "--force", action="store_true", help="--resume even if the dataset changed since the run started"
    )
    parser.add_argument(
        "--keep-checkpoint",
        action="store_true",
        help="keep checkpoint.pt when the run has finished (removed by default; best.pt stays)",
    )
    add_set_argument(
        parser, "any setting: section.key, model.key or a bare key, e.g. --set training.lr=1e-3 --set hidden_size=64"
    )
    parser.add_argument("--list", choices=["models", "datasets"], help="list the models or the datasets and exit")
    return parser.parse_args(argv)


def settings(args: argparse.Namespace) -> dict:
    """The config file's values, then the flags given (a flag left out keeps the file's value)."""
    values = read_config_file(args.config) if args.config else {}
    flags = {
        "dataset": args.dataset,
        "model": args.model,
        "data_dir": args.data_dir,
        "epochs": args.epochs,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
    }
    values.update({k: v for k, v in flags.items() if v is not None})
    return {**DEFAULTS, **values}


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.list:
        print(list_models() if args.list == "models" else list_datasets(args.data_dir or DEFAULTS["data_dir"]))
        return None
    if not args.resume:  # names first: nothing heavy is imported and no data is read before they are right
        values = settings(args)
        dataset = values.pop("dataset")
        if values["model"] not in MODEL_NAMES:
            raise InputError(
                "--model",
                f"unknown model {values['model']!r}; expected one of {', '.join(MODEL_NAMES)} (--list models)",
            )
        config = build_config(dataset, values, args.sets)
        check_dataset(config.dataset, config.data.data_dir)

    from mdsrec_pyg import distributed
    from mdsrec_pyg.experiment import check_out_folder, load_run_config, run_experiment, run_folder

    if args.resume:
        config = load_run_config(args.resume)
        out_dir = args.resume
    else:
        out_dir = check_out_folder(args.out or run_folder(config))
    if config.training.device != "cpu" or os.environ.get(
        "WORLD_SIZE"
    ):  # under torchrun: join the group, pick the device
        config.training.device = distributed.setup(config.training.device)
    return run_experiment(
        config, out_dir, resume=bool(args.resume), keep_checkpoint=args.keep_checkpoint, force=args.force
    )


if __name__ == "__main__":
    command_line(main)
