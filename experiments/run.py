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

from mdsrec_pyg import distributed
from mdsrec_pyg.cli import add_set_argument, command_line
from mdsrec_pyg.config import Config, build_config, read_config_file, validate
from mdsrec_pyg.errors import InputError, shorten
from mdsrec_pyg.experiment import run_experiment
from mdsrec_pyg.models import MODELS, list_models
from mdsrec_pyg.names import check_dataset, list_datasets
from mdsrec_pyg.runs import RunFolder, run_folder

DEFAULTS = {"dataset": "synthetic", "model": "mdsrec", "data_dir": "data"}  # data_dir: for --list only


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
        help="continue the run in RUN_DIR from its last checkpoint as its config.json says "
        "(--device, --threads, --force and --keep-checkpoint apply; other flags are refused)",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="train into an --out folder that holds a run of other settings (or an unfinished one), "
        "discarding that run's results, weights and checkpoint",
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


RESUME_KEEPS = ("device", "threads")  # how a resumed run executes; what it computes is its config.json's


def check_resume_flags(args: argparse.Namespace) -> None:
    """``--resume`` continues the run as its config.json says: a flag that would change it is refused."""
    given = [
        name for name in ("dataset", "model", "data_dir", "config", "epochs", "seed", "out") if getattr(args, name)
    ]
    given += ["set"] * bool(args.sets) + ["replace"] * args.replace
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise InputError(
            "--resume",
            f"continues the run as its config.json says, so {flags} would be ignored; leave them out (with "
            "--resume only --device, --threads, --force and --keep-checkpoint apply), or start a new run",
        )


def new_run_config(args: argparse.Namespace) -> Config:
    """The config of a new run: the config file's values, then the flags given (a flag left out keeps the
    file's value), then ``--set``; names and values checked before any data is read."""
    file = read_config_file(args.config) if args.config else {}
    model = args.model or file.get("model") or DEFAULTS["model"]
    if model not in MODELS:
        raise InputError(
            "--model" if args.model else args.config,
            f"unknown model {shorten(model)}; expected one of {', '.join(MODELS)} (--list models)",
        )
    dataset = args.dataset or file.get("dataset") or DEFAULTS["dataset"]
    flags = {
        "model": model,
        "data_dir": args.data_dir,
        "epochs": args.epochs,
        "seed": args.seed,
        "device": args.device,
        "threads": args.threads,
    }
    config = build_config(
        dataset,
        {k: v for k, v in flags.items() if v is not None},
        args.sets,
        file=(args.config, file) if args.config else None,
    )
    check_dataset(config.dataset, config.data.data_dir)
    return config


def main(argv: list[str] | None = None) -> dict | None:
    args = parse_args(argv)
    if args.list:
        print(list_models() if args.list == "models" else list_datasets(args.data_dir or DEFAULTS["data_dir"]))
        return None
    if args.resume:
        check_resume_flags(args)
    else:
        config = new_run_config(args)
    if args.resume:
        config = RunFolder(args.resume).located_config()  # its data found from any working directory
        for key in RESUME_KEEPS:
            if getattr(args, key) is not None:
                config.override(key, getattr(args, key), f"--{key}")
        validate(config)
        out_dir = args.resume
    else:
        out_dir = args.out or run_folder(config)
    distributed.check_device(config.training.device)
    if config.training.device != "cpu" or os.environ.get("WORLD_SIZE"):  # under torchrun: join the group
        config.training.device = distributed.setup(config.training.device)
    return run_experiment(
        config,
        out_dir,
        resume=bool(args.resume),
        keep_checkpoint=args.keep_checkpoint,
        force=args.force,
        replace=args.replace,
    )


if __name__ == "__main__":
    command_line(main)
