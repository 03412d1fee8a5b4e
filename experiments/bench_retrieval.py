"""Top-K retrieval at catalog scale: exact chunked inner products against the FAISS inverted-file index,
side by side in one process; prints a table and writes a JSON file.

    python experiments/bench_retrieval.py --items 1000000 --dim 900 --users 2000
    python experiments/bench_retrieval.py --run runs/clothing/mdsrec-42 --data-dir ../shared/datasets --users 5000

``--items N`` generates a catalog of N item vectors of width ``--dim`` (default 900: MDSRec's
[E^id, Ê^image, Ê^text] at the paper's d = 300) with ``bench.py``'s stand-in structure (items in topics of
about 200, a 64-d latent per item, its topic's centre plus noise, mapped to the width) and users whose vector
is the mean of five items of one topic; these are not a trained model's vectors, so the recall figure holds
for vectors of this shape only. ``--run RUN`` takes a trained run's own item vectors and its users' vectors
(``Recommender``: whole histories, seen items not excluded here). For each ``--nprobe`` the index's search
speed and recall@K against the exact top-K of the same users; the index build (k-means training of the cells
and adding every item) is timed once.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import torch

from mdsrec_pyg.benchmarks import peak_rss_mb, stand_in_features
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.recommend import Recommender
from mdsrec_pyg.registry.measurements import RetrievalSummary
from mdsrec_pyg.registry.store import write_summary
from mdsrec_pyg.retrieval import ExactIndex, FaissIndex, recall_at_k
from mdsrec_pyg.tables import to_markdown


def generated_vectors(items: int, dim: int, users: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(items, dim) item vectors in topics of ~200 (row 0 padding) and (users, dim) user vectors, each the
    mean of five items of one topic."""
    rng = np.random.default_rng(seed)
    num_topics = max(1, items // 200)
    topics = np.concatenate([[0], (np.arange(1, items) - 1) % num_topics])
    vectors = stand_in_features(topics, dim, rng)
    chosen_topics = rng.integers(num_topics, size=users)
    members = (items - 2 - chosen_topics) // num_topics + 1
    picks = 1 + chosen_topics[:, None] + num_topics * (rng.random((users, 5)) * members[:, None]).astype(np.int64)
    return vectors, vectors[torch.as_tensor(picks)].mean(1)


def run_vectors(run: str, data_dir: str | None, users: int) -> tuple[torch.Tensor, torch.Tensor]:
    recommender = Recommender.load(run, data_dir=data_dir)
    batches = recommender.user_vector_batches(recommender.dataset.sequences[:users])
    return recommender.item_vectors, torch.cat([vectors for _, vectors in batches])


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--items", type=int, help="generate a catalog of this many items")
    source.add_argument("--run", help="a finished run folder: its item and user vectors")
    parser.add_argument("--data-dir", help="--run: where its dataset is now")
    parser.add_argument("--dim", type=int, default=900, help="--items: vector width (default 900)")
    parser.add_argument("--users", type=int, default=2000, help="query users (default 2000)")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--nprobe", type=int, nargs="+", default=[8, 32, 128], help="cells scanned per query")
    parser.add_argument("--nlist", type=int, help="index cells (default 4 sqrt(items))")
    parser.add_argument("--batch", type=int, default=1024, help="users per search call")
    parser.add_argument("--out", default="bench_retrieval.json")
    args = parser.parse_args(argv)
    for flag in ("users", "k", "dim", "batch"):
        if getattr(args, flag) < 1:
            raise InputError(f"--{flag}", f"expected a positive number, got {getattr(args, flag)}")
    if args.items is not None and args.items < 1000:
        raise InputError("--items", f"expected at least 1000 items, got {args.items}")
    if any(n < 1 for n in args.nprobe):
        raise InputError("--nprobe", f"expected positive numbers, got {args.nprobe}")
    if args.items:
        (items, users), seconds = timed(lambda: generated_vectors(args.items, args.dim, args.users))
        source_name = f"generated catalog, {args.items:,} items x {args.dim}-d (stand-in vectors)"
    else:
        (items, users), seconds = timed(lambda: run_vectors(args.run, args.data_dir, args.users))
        source_name = f"{args.run}: {items.size(0) - 1:,} items x {items.size(1)}-d (trained vectors)"
    print(f"{source_name}; {users.size(0):,} users; vectors made in {seconds:.1f}s")

    def search(index, n: int | None = None):
        if n is not None:
            index.index.nprobe = n
        found = [index.search(users[b : b + args.batch], args.k) for b in range(0, users.size(0), args.batch)]
        return np.concatenate([f[1] for f in found])

    exact_index = ExactIndex(items)
    exact, exact_seconds = timed(lambda: search(exact_index))
    rows = [["exact (chunked matmul)", "-", f"{users.size(0) / exact_seconds:,.0f}", "1.000", "1.0x"]]
    report = {
        "kind": RetrievalSummary.kind,
        "source": source_name,
        "items": items.size(0) - 1,
        "dim": items.size(1),
        "users": users.size(0),
        "k": args.k,
        "exact_seconds": exact_seconds,
        "exact_users_per_second": users.size(0) / exact_seconds,
        "torch_threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, torch {torch.__version__}",
    }
    index, build_seconds = timed(lambda: FaissIndex(items, nlist=args.nlist))
    report.update(
        {
            "index": "faiss IndexIVFFlat, inner product",
            "nlist": index.nlist,
            "index_build_seconds": build_seconds,
            "by_nprobe": [],
        }
    )
    for n in args.nprobe:
        found, seconds = timed(lambda: search(index, n))
        recall = recall_at_k(found, exact)
        report["by_nprobe"].append(
            {"nprobe": n, "seconds": seconds, "users_per_second": users.size(0) / seconds, f"recall@{args.k}": recall}
        )
        rows.append(
            [
                f"faiss IVF (nlist {index.nlist})",
                n,
                f"{users.size(0) / seconds:,.0f}",
                f"{recall:.3f}",
                f"{exact_seconds / seconds:.1f}x",
            ]
        )
    report["peak_rss_mb"] = peak_rss_mb()
    print(
        f"index build (train {index.nlist} cells + add {items.size(0) - 1:,} items): {build_seconds:.1f}s; "
        f"peak memory {report['peak_rss_mb']:,.0f} MB"
    )
    print(to_markdown(["search", "nprobe", "users/s", f"recall@{args.k} vs exact", "speed-up"], rows))
    write_summary(Path(args.out), RetrievalSummary.from_dict(report, args.out))
    print(f"written {args.out}")
    return report


if __name__ == "__main__":
    command_line(main)
