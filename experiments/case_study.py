"""Figure 5 of the paper: for one user and their test item, what each modality of MDSRec sees and ranks.

    python experiments/run.py --dataset scientific_mm --data-dir ../shared/datasets          # train first
    python experiments/case_study.py --run runs/scientific_mm/mdsrec-42 --auto --compare runs/scientific_mm/sasrec-42

For the chosen user: the target's top-5 semantic neighbours in each modal relation graph (and which the
modalities share), MDSRec's top-5 in each modal channel (y^m, Eq. 21), in the ID channel (y^s, Eq. 20) and
fused (y, Eq. 22), with the target's rank in each (1 + items scoring >= it, as the evaluator ranks);
the same for each ``--compare`` run. ``--auto`` picks the user whose modal top-5 lists overlap least
among those whose target some channel ranks in its top 20. Items are shown with their index, original id
and, where the dataset has it, text. Written to ``case_study.md`` in the run folder too.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.data import SequentialDataset
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.evaluate import trim_left_padding
from mdsrec_pyg.models import MDSRec
from mdsrec_pyg.recommend import load_trained
from mdsrec_pyg.tables import to_markdown


def rank_of(scores: torch.Tensor, target: int) -> int:
    """Pessimistic rank of ``target`` among real items (padding excluded), as the evaluator computes it."""
    others = torch.cat([scores[1:target], scores[target + 1 :]])
    return 1 + int((others >= scores[target]).sum())


@torch.no_grad()
def channels(model, inputs: np.ndarray, num_items: int) -> dict[str, torch.Tensor]:
    """All-item scores (B, N) of each channel; padding at -inf."""
    x = torch.as_tensor(trim_left_padding(inputs))
    state = model.user_state(x)
    out = {"fused": model.score(state, 0, num_items).clone()}
    if isinstance(model, MDSRec):
        for name, scores in model.channel_scores(state, 0, num_items).items():
            out["id (y^s)" if name == "id" else f"{name} (y^m)"] = scores.clone()
    for scores in out.values():
        scores[:, 0] = float("-inf")
    return out


def pick_user(model, inputs: np.ndarray, targets: np.ndarray, top: int, num_items: int, limit: int = 3000) -> int:
    """The user whose modal top-``top`` lists overlap least, among those with the target in some top 20."""
    users = np.arange(min(limit, len(targets)))
    scores = channels(model, inputs[users], num_items)
    modal = [name for name in scores if name.endswith("(y^m)")]
    if len(modal) < 2:
        raise InputError("--auto", "needs a model with at least two modalities")
    tops = {name: s.topk(top, dim=1).indices for name, s in scores.items()}
    best, best_overlap = int(users[0]), float("inf")
    for row, user in enumerate(users):
        if not any(rank_of(s[row], int(targets[user])) <= 20 for s in scores.values()):
            continue
        sets = [set(tops[name][row].tolist()) for name in modal]
        overlap = len(set.intersection(*sets)) / top
        if overlap < best_overlap:
            best, best_overlap = int(user), overlap
    return best


def describe_item(dataset: SequentialDataset, item: int, target: int) -> str:
    text = (dataset.item_text[item][:60] if dataset.item_text else "").replace("|", "/")
    mark = " **(target)**" if item == target else ""
    return f"{item} `{dataset.item_ids[item]}`{mark} {text}".strip()


def case_study(
    run_dir: str | Path, user: str | None = None, auto: bool = False, compare: list[str] = (), top: int = 5
) -> dict:
    config, dataset, model = load_trained(run_dir)
    split = dataset.split()
    inputs, targets = split.eval_inputs("test", config.data.max_len)
    if auto:
        index = pick_user(model, inputs, targets, top, dataset.num_items)
    elif user is not None:
        if user in dataset.user_ids:
            index = dataset.user_ids.index(user)
        elif user.isdigit() and int(user) < dataset.num_users:
            index = int(user)
        else:
            raise InputError("--user", f"{user!r} is neither a user id of {dataset.name} nor a user index")
    else:
        raise InputError("--user", "give --user ID or --auto")
    target = int(targets[index])
    report: dict = {"user": dataset.user_ids[index], "index": index, "target": target, "channels": {}, "neighbours": {}}
    sections = [
        f"# Case study: user `{dataset.user_ids[index]}` (index {index}) on {dataset.name}\n",
        f"Test item: {describe_item(dataset, target, -1)}\n",
        "History (oldest first): " + ", ".join(str(i) for i in split.test_inputs[index][-config.data.max_len :]) + "\n",
    ]
    if isinstance(model, MDSRec) and model.use_graphs:
        rows = []
        for m, graph in model.modal_graphs.items():
            sources = graph.edge_index[0][(graph.edge_index[1] == target) & (graph.edge_index[0] != target)]
            report["neighbours"][m] = sources[:top].tolist()
        shared = set.intersection(*(set(v) for v in report["neighbours"].values()))
        for m, items in report["neighbours"].items():
            rows.append(
                [
                    m,
                    "<br>".join(
                        describe_item(dataset, i, target) + (" (shared)" if i in shared else "") for i in items
                    ),
                ]
            )
        sections.append(
            f"## The target's top-{top} neighbours in each modal relation graph\n\n"
            + to_markdown(["modality", "neighbours"], rows)
        )
    rows = []
    for label, run in [(f"MDSRec ({Path(run_dir).name})", None)] + [(Path(c).name, c) for c in compare]:
        trained = model if run is None else load_trained(run, dataset=dataset)[2]
        for name, scores in channels(trained, inputs[index : index + 1], dataset.num_items).items():
            ranked = scores[0].topk(top).indices.tolist()
            rank = rank_of(scores[0], target)
            report["channels"][f"{label} {name}"] = {"top": ranked, "rank": rank}
            rows.append([label, name, rank, "<br>".join(describe_item(dataset, i, target) for i in ranked)])
    sections.append(
        f"## Top-{top} of each channel and the target's rank\n\n"
        + to_markdown(["model", "channel", "target rank", f"top-{top}"], rows)
    )
    text = "\n".join(sections)
    io.write_text(Path(run_dir) / "case_study.md", text)
    report["markdown"] = text
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="a finished MDSRec run folder (config.json, best.pt)")
    parser.add_argument("--user", help="original user id or user index")
    parser.add_argument("--auto", action="store_true", help="pick the user whose modal rankings differ most")
    parser.add_argument("--compare", nargs="*", default=[], help="other finished run folders (e.g. SASRec)")
    parser.add_argument("--top", type=int, default=5)
    parser.add_argument("--out", help="also write the Markdown here (say, results/<dataset>/case_study.md)")
    args = parser.parse_args(argv)
    report = case_study(args.run, args.user, args.auto, args.compare, args.top)
    if args.out:
        io.write_text(args.out, report["markdown"])
    print(report["markdown"])
    return report


if __name__ == "__main__":
    command_line(main)
