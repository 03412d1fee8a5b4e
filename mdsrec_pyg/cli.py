"""How a command of ``experiments/`` ends: bad input or a failed training is one line on stderr and exit
status 2, never a traceback. Light to import, so that ``--help`` and argument checks come at once."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any, Callable

from .errors import InputError, RunInterrupted, Terminated, TrainingError
from .names import dataset_name


def command_line(main: Callable[[], Any]) -> None:
    """Run a command's ``main`` with INFO logging (timestamped) on stderr. Bad input is one line and exit 2;
    Ctrl-C and SIGTERM end the run the same way (its files left whole, its lock released), one line and exit
    130 or 143; a reader that closes the pipe (``| head``) ends it quietly (exit 141)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except (InputError, TrainingError) as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except RunInterrupted as err:
        print(f"interrupted: {err}", file=sys.stderr)
        sys.exit(err.status)
    except KeyboardInterrupt as err:  # before a run folder exists: nothing to resume
        print("terminated" if isinstance(err, Terminated) else "interrupted", file=sys.stderr)
        sys.exit(143 if isinstance(err, Terminated) else 130)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        sys.exit(141)


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def add_experiment_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments every script that runs several configurations shares (table2, ablation, sweep)."""
    parser.add_argument("--dataset", default="synthetic", help="a known dataset name or a dataset folder")
    parser.add_argument("--data-dir", default="data", help="folder holding one sub-folder per dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--out", help="folder of the runs and tables (default runs/<dataset>/<script>)")
    add_set_argument(parser, "a setting for every run (section.key, model.key or a bare key)")
    parser.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        help="runs at once, each in a process of its own (a GPU, or many cores; give each --set threads=N)",
    )
    parser.add_argument(
        "--registry",
        default="results",
        help="folder of the committed results registry the runs and tables are recorded in",
    )
    parser.add_argument(
        "--replace",
        action="store_true",
        help="replace a registry table or run entry, and retrain a run folder, made with other settings "
        "(refused without it)",
    )


def add_set_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--set KEY=VALUE``, repeatable, into ``args.sets`` (the keys of ``mdsrec_pyg/config.py``)."""
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE", help=help)


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def experiment_settings(args: argparse.Namespace, model: str) -> dict[str, Any]:
    """The settings these arguments give every run of ``model`` (seed and the script's own come on top)."""
    return {"model": model, "data_dir": args.data_dir, **({"epochs": args.epochs} if args.epochs else {})}


def distinct(values: list[Any], flag: str) -> list[Any]:
    """``values`` if none is given twice, else one line (two equal seeds would read as seeds that agree)."""
    repeated = next((v for i, v in enumerate(values) if v in values[:i]), None)
    if repeated is not None:
        raise InputError(flag, f"{repeated} is given twice; give each once")
    return values


def check_registry(args: argparse.Namespace) -> None:
    """Refuse, before any run, a ``--registry`` that is a file, a ``--table`` name that is not a plain name,
    and a seed given twice."""
    distinct(args.seeds, "--seeds")
    registry = Path(args.registry)
    if registry.exists() and not registry.is_dir():
        raise InputError("--registry", f"{registry} is a file; expected the results registry folder")
    table = getattr(args, "table", "table")
    if not table or not all(c.isalnum() or c in "-_" for c in table):
        raise InputError("--table", f"{table!r}: expected a plain name (letters, digits, - and _)")


def output_folder(args: argparse.Namespace, name: str) -> Path:
    """``--out``, or ``runs/<dataset>/<name>``."""
    return Path(args.out or Path("runs") / dataset_name(args.dataset) / name)
