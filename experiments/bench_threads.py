"""CPU threads against training speed, on a quiet and on a loaded machine, side by side in one run.

    python experiments/bench_threads.py --threads 1 2 0 --load 0 2 --epochs 2

For each load (that many busy-looping processes started beside the runs, standing in for other users' jobs)
and each ``--threads`` value (0: the project's default, the free cores), one fresh ``run.py`` process trains
MDSRec on synthetic for ``--epochs`` epochs; the figure is its mean training seconds per epoch (from
results.json, evaluation excluded), with the thread count the run chose and its validation NDCG@20 (equal
values mean the thread count did not change the numbers). Writes a table and ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mdsrec_pyg.cli import add_set_argument, command_line
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.registry.measurements import ThreadsSummary
from mdsrec_pyg.registry.store import write_summary
from mdsrec_pyg.tables import to_markdown

ROOT = Path(__file__).resolve().parents[1]


def busy() -> None:
    while True:
        pass


def one_run(threads: int, epochs: int, sets: list[str], folder: Path) -> dict:
    out = folder / f"run-{threads}-{time.monotonic_ns()}"
    args = [
        sys.executable,
        str(ROOT / "experiments" / "run.py"),
        "--epochs",
        str(epochs),
        "--out",
        str(out),
        "--set",
        "patience=100",
        *[a for s in sets for a in ("--set", s)],
    ]
    if threads:
        args += ["--threads", str(threads)]
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    done = subprocess.run(args, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise InputError("run.py", done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed")
    results = json.loads((out / "results.json").read_text())
    per_epoch = [h["train_seconds"] for h in results["history"]]
    return {
        "asked": threads,
        "threads": results["threads"],
        "train_seconds_per_epoch": sum(per_epoch) / len(per_epoch),
        "valid_ndcg@20": results["valid"]["ndcg@20"],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2, 0], help="0: the default (free cores)")
    parser.add_argument("--load", type=int, nargs="+", default=[0, 2], help="busy processes beside the runs")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait after starting or stopping the load")
    add_set_argument(parser, "a setting of the runs (see run.py --help)")
    parser.add_argument("--out", default="bench_threads.json")
    args = parser.parse_args(argv)
    if args.epochs < 1 or any(t < 0 for t in args.threads) or any(n < 0 for n in args.load):
        raise InputError("bench_threads.py", "expected --epochs >= 1, --threads >= 0 and --load >= 0")
    report = {
        "kind": ThreadsSummary.kind,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "epochs": args.epochs,
        "rows": [],
    }
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for load in args.load:
            workers = [multiprocessing.Process(target=busy, daemon=True) for _ in range(load)]
            for worker in workers:
                worker.start()
            time.sleep(args.settle if load else 0)
            try:
                for threads in args.threads:
                    row = {
                        "load": load,
                        "load_average": os.getloadavg()[0],
                        **one_run(threads, args.epochs, args.sets, Path(tmp)),
                    }
                    report["rows"].append(row)
                    rows.append(
                        [
                            load,
                            "default" if threads == 0 else threads,
                            row["threads"],
                            f"{row['train_seconds_per_epoch']:.1f}",
                            f"{row['valid_ndcg@20']:.4f}",
                        ]
                    )
                    print(rows[-1], flush=True)
            finally:
                for worker in workers:
                    worker.terminate()
            time.sleep(args.settle if load else 0)
    print(to_markdown(["busy processes", "--threads", "threads used", "train s / epoch", "valid N@20"], rows))
    write_summary(args.out, ThreadsSummary.from_dict(report, args.out))
    print(f"written {args.out}")
    return report


if __name__ == "__main__":
    command_line(main)
