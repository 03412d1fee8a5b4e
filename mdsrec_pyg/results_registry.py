"""The committed results registry: what every table of the README is generated from.

``results/<dataset>/<table>/<run>.json`` holds one finished run (config, metrics, seed, best epoch, wall
time, machine, commit; no weights, no per-user ranks) and ``results/<dataset>/<table>.json`` the table made
of them (per-row values over seeds, the tuning choice, the paired tests). The experiment scripts write both;
``experiments/readme_tables.py`` renders the tables into the README between markers, and a test fails when
the README differs from what the registry renders.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from . import io
from .errors import InputError
from .tables import mean_std, to_markdown

RUN_KEYS = ("dataset", "model", "config", "best_epoch", "valid", "test", "seconds", "seconds_to_best_epoch",
            "train_rows", "train_targets", "mask_history", "versions", "machine", "data")
SHOWN = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]
LABELS = {"recall": "R", "ndcg": "N"}


def short(metric: str) -> str:
    """``recall@20`` -> ``R@20``."""
    name, k = metric.split("@")
    return f"{LABELS.get(name, name)}@{k}"


def record_run(registry: str | Path, table: str, run_dir: str | Path, results: dict[str, Any]) -> Path:
    """Write one finished run's entry, ``<registry>/<dataset>/<table>/<run folder name>.json``."""
    entry = {"run": Path(run_dir).name, **{k: results.get(k) for k in RUN_KEYS}}
    return io.write_json(Path(registry) / results["dataset"] / table / f"{Path(run_dir).name}.json", entry)


def write_table(registry: str | Path, dataset: str, table: str, summary: dict[str, Any]) -> Path:
    """Write a table's summary, ``<registry>/<dataset>/<table>.json``."""
    return io.write_json(Path(registry) / dataset / f"{table}.json", summary)


def read_table(registry: str | Path, key: str) -> dict[str, Any]:
    """The summary ``<registry>/<key>.json`` (``key`` as ``dataset/table``)."""
    path = Path(registry) / f"{key}.json"
    if not path.is_file():
        raise InputError(path, "not in the results registry; run the experiment script that writes it")
    return json.loads(path.read_text())


def ran_on(results: dict[str, Any]) -> str:
    """The GPU a run used, else its processor and core count (runs made before machines were recorded: "?")."""
    where = results.get("machine") or {}
    if where.get("gpu"):
        return where["gpu"]
    return f"CPU {where['processor']} x{where['cpu_count']}" if where else "?"


def fmt(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.4f}" if len(values) == 1 else f"{mean:.4f} ± {std:.4f}"


def bold_best(rows: list[dict[str, Any]], metric: str) -> float:
    return max(mean_std(r["test"][metric])[0] for r in rows)


def render_comparison(summary: dict[str, Any]) -> str:
    """Table 2 (a row per model and setting) and the paired tests of the proposed model against the others."""
    rows = summary["rows"]
    best = {m: bold_best(rows, m) for m in SHOWN}
    header = ["model", "setting", "lr", "dropout", *map(short, SHOWN), "best epoch", "s / run", "ran on"]
    lines = []
    for r in rows:
        cells = []
        for m in SHOWN:
            text = fmt(r["test"][m])
            cells.append(f"**{text}**" if mean_std(r["test"][m])[0] == best[m] else text)
        trainable = r["lr"] is not None
        lines.append([r["model"], r["setting"], f"{r['lr']:g}" if trainable else "-",
                      f"{r['dropout']:g}" if trainable else "-", *cells,
                      ",".join(str(e) for e in r["best_epochs"]) if trainable else "-",
                      f"{mean_std(r['seconds'])[0]:.0f}", ", ".join(r["ran_on"])])
    seeds = ", ".join(map(str, summary["seeds"]))
    text = (f"{summary['dataset']}: test split, full ranking; seeds {seeds} (mean ± std over the seeds a row ran); "
            f"{summary['note']}\n\n" + to_markdown(header, lines))
    if summary.get("tests"):
        text += "\n" + render_tests(summary["tests"], summary["proposed"], summary["k"])
    return text


def render_tests(tests: list[dict[str, Any]], proposed: str, k: int) -> str:
    header = ["against", "setting", f"{proposed} N@{k}", f"other N@{k}", "difference", "95% CI (bootstrap)",
              "Wilcoxon p", "p < 0.05"]
    lines = [[t["other"], t["setting"], f"{t['mean_a']:.4f}", f"{t['mean_b']:.4f}", f"{t['difference']:+.4f}",
              f"[{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]", f"{t['p_wilcoxon']:.2g}",
              "yes" if t["significant"] else "no"] for t in tests]
    return (f"Paired over {tests[0]['users']:,} test users, per-user NDCG@{k} ({proposed} minus the other; a "
            "user's value is its mean over the seeds):\n\n" + to_markdown(header, lines))


def render_ablation(summary: dict[str, Any]) -> str:
    """Table 3: a row per variant, its drop against the full model and the paired test of that difference."""
    metrics = summary["metrics"]
    header = ["variant", *map(short, metrics), *(f"drop {short(m)}" for m in metrics),
              f"N@{summary['k']} full - variant (95% CI)", "Wilcoxon p", "p < 0.05"]
    full = summary["rows"][-1]
    lines = []
    for r in summary["rows"]:
        drops = [100 * (mean_std(full["test"][m])[0] - mean_std(r["test"][m])[0]) / mean_std(full["test"][m])[0]
                 for m in metrics]
        t = r.get("test_against_full")
        lines.append([r["variant"], *(fmt(r["test"][m]) for m in metrics),
                      *(("-",) * len(metrics) if t is None else (f"{d:.2f}%" for d in drops)),
                      "-" if t is None else f"{t['difference']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]",
                      "-" if t is None else f"{t['p_wilcoxon']:.2g}",
                      "-" if t is None else ("yes" if t["significant"] else "no")])
    seeds = ", ".join(map(str, summary["seeds"]))
    return (f"Ablations of MDSRec on {summary['dataset']}, test split, seeds {seeds} (mean ± std); drop: how much "
            f"lower than MDSRec; the test is paired over {summary['users']:,} users (full minus variant); "
            f"{summary['note']}\n\n" + to_markdown(header, lines))


RENDERERS = {"table2": render_comparison, "ablation": render_ablation}


def render(registry: str | Path, key: str) -> str:
    """The Markdown of the registry table ``key`` (``dataset/table``)."""
    summary = read_table(registry, key)
    kind = summary.get("kind")
    if kind not in RENDERERS:
        raise InputError(Path(registry) / f"{key}.json", f"unknown table kind {kind!r}; expected one of "
                                                          f"{', '.join(RENDERERS)}")
    return RENDERERS[kind](summary)
