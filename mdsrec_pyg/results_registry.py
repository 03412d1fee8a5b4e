"""The committed results registry: what every table of the README is generated from.

``results/<dataset>/<table>/<run>.json`` holds one finished run (config, metrics, seed, best epoch, wall
time, machine, commit; no weights, no per-user ranks) and ``results/<dataset>/<table>.json`` the table made
of them (per-row values over seeds, the tuning choice, the paired tests). The experiment scripts write both;
``experiments/readme_tables.py`` renders the tables into the README between markers, and a test fails when
the README differs from what the registry renders.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from . import io
from .config import Config
from .errors import InputError, shorten
from .runs import config_differences, listed
from .tables import cell, mean_std, to_markdown

RUN_KEYS = (
    "dataset",
    "model",
    "config",
    "best_epoch",
    "valid",
    "test",
    "seconds",
    "seconds_to_best_epoch",
    "train_rows",
    "train_targets",
    "mask_history",
    "versions",
    "machine",
    "data",
)
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
    return read_json(path)


def read_json(path: Path) -> dict[str, Any]:
    """A registry file as a JSON object; one line naming it when it cannot be read."""
    return io.read_json_object(path, "restore it from git (git checkout -- FILE)")


def table_runs(summary: dict[str, Any]) -> list[str]:
    """The run names a table is made of (its rows' or points' ``runs``)."""
    return [run for row in summary.get("rows") or summary.get("points") or [] for run in row.get("runs", [])]


def entry_differences(entry: Path, config: Config) -> list[str]:
    """How the run entry ``entry`` differs from ``config`` (none where there is no entry)."""
    return config_differences(read_json(entry).get("config", {}), config) if entry.is_file() else []


def check_recordable(
    registry: str | Path,
    dataset: str,
    table: str,
    entry_dir: str,
    planned: dict[str, Config],
    facts: dict[str, Any],
    replace: bool,
    elsewhere: str,
    rows: list[str] | None = None,
) -> None:
    """Refuse, in one line and before any run, to record over a registry table or run entry made with other
    settings: the table ``<dataset>/<table>.json`` unless every run it lists is a run of ``planned`` (run name
    -> the config this command makes under it) with the same settings, its ``facts`` (``seeds``, ``models``,
    ...) are these, and (where the command knows them before it runs: ``rows``) it lists the same runs; and a
    run entry ``<dataset>/<entry_dir>/<run>.json`` unless it is the same run. ``replace`` allows it;
    ``elsewhere`` says how to record beside it instead."""
    if replace:
        return
    registry = Path(registry)
    path = registry / dataset / f"{table}.json"

    def refuse(why: str) -> None:
        raise InputError(
            path,
            f"the registry holds this table made with other settings ({why}); {elsewhere}, or --replace to replace it",
        )

    if path.is_file():
        summary = read_json(path)
        for key, value in facts.items():
            if key in summary and summary[key] != value:
                refuse(f"{key} {shorten(summary[key])} there, {shorten(value)} here")
        runs = table_runs(summary)
        if not runs:
            refuse("it lists no runs to compare")
        if rows is not None and sorted(rows) != sorted(runs):
            refuse(f"runs {', '.join(sorted(set(runs) ^ set(rows))[:4])} in one and not the other")
        folder = registry / summary.get("run_entries", f"{dataset}/{entry_dir}")
        for run in runs:
            if run not in planned:
                refuse(f"its run {run} is not one this command makes")
            if differences := entry_differences(folder / f"{run}.json", planned[run]):
                refuse(f"run {run}: {listed(differences, 2)}")
    for run, config in planned.items():
        entry = registry / dataset / entry_dir / f"{run}.json"
        if differences := entry_differences(entry, config):
            raise InputError(
                entry,
                f"the registry holds this run made with other settings ({listed(differences, 2)}); {elsewhere}, "
                "or --replace to replace it",
            )


def ran_on(results: dict[str, Any]) -> str:
    """The GPU a run used, else its processor and core count (runs made before machines were recorded: "?")."""
    where = results.get("machine") or {}
    if where.get("gpu"):
        return where["gpu"]
    return f"CPU {where['processor']} x{where['cpu_count']}" if where else "?"


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
            text = cell(r["test"][m])
            cells.append(f"**{text}**" if mean_std(r["test"][m])[0] == best[m] else text)
        trainable = r["lr"] is not None
        lines.append(
            [
                r["model"],
                r["setting"],
                f"{r['lr']:g}" if trainable else "-",
                f"{r['dropout']:g}" if trainable else "-",
                *cells,
                ",".join(str(e) for e in r["best_epochs"]) if trainable else "-",
                f"{mean_std(r['seconds'])[0]:.0f}",
                ", ".join(r["ran_on"]),
            ]
        )
    seeds = ", ".join(map(str, summary["seeds"]))
    text = (
        f"{summary['dataset']}: test split, full ranking; seeds {seeds} (mean ± std over the seeds a row ran); "
        f"features: {features(summary)}; {summary['note']}\n\n" + to_markdown(header, lines)
    )
    if summary.get("grid_valid_ndcg@20"):
        text += "\n" + render_search(summary["grid_valid_ndcg@20"], summary["seeds"][0])
    if summary.get("tests"):
        text += "\n" + render_tests(summary["tests"], summary["proposed"], summary["k"])
    return text


def render_search(grid: dict[str, dict[str, float | str]], seed: int) -> str:
    """The validation NDCG@20 of every searched setting, per model (the chosen one in bold)."""
    settings = list(next(iter(grid.values())))
    lines = []
    for model, scores in grid.items():
        numbers = {k: v for k, v in scores.items() if isinstance(v, float)}
        best = max(numbers, key=numbers.get) if numbers else None
        lines.append(
            [model]
            + [
                ("**{:.4f}**" if k == best else "{:.4f}").format(v) if isinstance(v, float) else "failed"
                for k, v in scores.items()
            ]
        )
    return f"The search: validation NDCG@20 of each setting, seed {seed} (the chosen in bold):\n\n" + to_markdown(
        ["model", *settings], lines
    )


def features(summary: dict[str, Any]) -> str:
    found = summary.get("features") or {}
    return ", ".join(f"{m} {d}-d" for m, d in sorted(found.items())) or "none (ID models only)"


def render_tests(tests: list[dict[str, Any]], proposed: str, k: int) -> str:
    header = [
        "against",
        "setting",
        f"{proposed} N@{k}",
        f"other N@{k}",
        "difference",
        "improv.",
        "95% CI (bootstrap)",
        "Wilcoxon p",
        "p < 0.05",
    ]
    lines = [
        [
            t["other"],
            t["setting"],
            f"{t['mean_a']:.4f}",
            f"{t['mean_b']:.4f}",
            f"{t['difference']:+.4f}",
            f"{improvement(t):+.1f}%",
            f"[{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]",
            f"{t['p_wilcoxon']:.2g}",
            "yes" if t["significant"] else "no",
        ]
        for t in tests
    ]
    best = tests[0]  # tests come ordered by setting, then by the other model's NDCG, best first
    verdict = (
        f"**{proposed} against the best other model ({best['other']}, {best['setting']} setting): "
        f"{improvement(best):+.1f}% NDCG@{k}, p = {best['p_wilcoxon']:.2g}: "
        + ("significant at 0.05.**" if best["significant"] else "not significant at 0.05: noise.**")
    )
    return (
        f"Paired over {best['users']:,} test users, per-user NDCG@{k} ({proposed} minus the other; a "
        "user's value is its mean over the seeds):\n\n" + to_markdown(header, lines) + "\n" + verdict + "\n"
    )


def improvement(test: dict[str, Any]) -> float:
    """The mean difference of a paired test in percent of the other model's mean."""
    return 100 * test["difference"] / test["mean_b"] if test["mean_b"] else float("nan")


def render_ablation(summary: dict[str, Any]) -> str:
    """Table 3: a row per variant, its drop against the full model and the paired test of that difference."""
    metrics = summary["metrics"]
    header = [
        "variant",
        *map(short, metrics),
        *(f"drop {short(m)}" for m in metrics),
        f"N@{summary['k']} full - variant (95% CI)",
        "Wilcoxon p",
        "p < 0.05",
    ]
    full = summary["rows"][-1]
    lines = []
    for r in summary["rows"]:
        drops = [
            100 * (mean_std(full["test"][m])[0] - mean_std(r["test"][m])[0]) / mean_std(full["test"][m])[0]
            for m in metrics
        ]
        t = r.get("test_against_full")
        lines.append(
            [
                r["variant"],
                *(cell(r["test"][m]) for m in metrics),
                *(("-",) * len(metrics) if t is None else (f"{d:.2f}%" for d in drops)),
                "-" if t is None else f"{t['difference']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]",
                "-" if t is None else f"{t['p_wilcoxon']:.2g}",
                "-" if t is None else ("yes" if t["significant"] else "no"),
            ]
        )
    seeds = ", ".join(map(str, summary["seeds"]))
    tested = [r for r in summary["rows"] if r.get("test_against_full")]
    matter = [
        r["variant"]
        for r in tested
        if r["test_against_full"]["significant"] and r["test_against_full"]["difference"] > 0
    ]
    helps = [
        r["variant"]
        for r in tested
        if r["test_against_full"]["significant"] and r["test_against_full"]["difference"] < 0
    ]
    noise = [r["variant"] for r in tested if not r["test_against_full"]["significant"]]
    verdict = (
        f"**Removing a component lowers NDCG@{summary['k']} beyond noise (p < 0.05) for: "
        f"{', '.join(matter) or 'none'}; within noise: {', '.join(noise) or 'none'}"
        + (f"; raises it beyond noise: {', '.join(helps)}" if helps else "")
        + ".**"
    )
    return (
        f"Ablations of MDSRec on {summary['dataset']}, test split, seeds {seeds} (mean ± std); drop: how much "
        f"lower than MDSRec; the test is paired over {summary['users']:,} users (full minus variant); "
        f"{summary['note']}\n\n" + to_markdown(header, lines) + "\n" + verdict + "\n"
    )


def render_sweep(summary: dict[str, Any]) -> str:
    """Figures 3-4: the test metrics at each value of one parameter (the dataset's default marked)."""
    param, points = summary["param"], summary["points"]
    header = [param] + [f"{p['value']}{' (default)' if p['value'] == summary['default'] else ''}" for p in points]
    lines = [[f"test {short(m)}"] + [cell(p["test"][m]) for p in points] for m in summary["metrics"]]
    lines += [[f"valid {short(m)}"] + [cell(p["valid"][m]) for p in points] for m in summary["metrics"]]
    lines.append(["best epoch"] + [",".join(map(str, p["best_epochs"])) for p in points])
    seeds = ", ".join(map(str, summary["seeds"]))
    return (
        f"MDSRec on {summary['dataset']} against {param}, test split, seeds {seeds}; {summary['note']}\n\n"
        + to_markdown(header, lines)
        + f"\n![MDSRec on {summary['dataset']}: impact of {param}]"
        f"({summary['figure']})\n"
    )


def render_bench(figures: dict[str, Any]) -> str:
    """A ``bench.json`` of ``experiments/bench.py``: its stages side by side, then the ratios it measured."""
    header = ["stage", "seconds", "peak RSS (MB)", "note"]
    lines = [
        [r["stage"], f"{r['seconds']:.2f}", f"{r['peak_rss_mb']:,.0f}", r["note"] or ""] for r in figures["stages"]
    ]
    ratios = [
        f"MDSRec / SASRec epoch time: **{figures['epoch_ratio_mdsrec_sasrec']:.2f}x**",
        f"full ranking: {figures['eval_users_per_second_sasrec']:,.0f} users/s (SASRec), "
        f"{figures['eval_users_per_second_mdsrec']:,.0f} (MDSRec)",
    ]
    if "knn_recall" in figures:
        scaled = " (the exact time scaled from a sample)" if figures.get("knn_exact_extrapolated") else ""
        ratios.append(
            f"pynndescent recall against exact search: {figures['knn_recall']:.3f}, "
            f"{figures['knn_speedup']:.0f}x faster{scaled}"
        )
    features = ", ".join(f"{m} {shape[1]}-d" for m, shape in figures["features"].items())
    return (
        f"`{figures['command']}` ({figures['dataset']}: {figures['items']:,} items, {figures['users']:,} users; "
        f"stand-in random features: {features}; {figures['device']}, torch {figures['torch']}, commit "
        f"{figures.get('commit') or '?'}):\n\n" + to_markdown(header, lines) + "\n" + "; ".join(ratios) + ".\n"
    )


RENDERERS = {"table2": render_comparison, "ablation": render_ablation, "sweep": render_sweep, "bench": render_bench}


def render_paper_rows(summary: dict[str, Any], paper: dict[str, Any]) -> str:
    """The paper's own Table 2 values for the models of ``summary``, beside ours (first row of each model)."""
    reported = paper["datasets"][summary["dataset"]]
    ours = {}
    for r in summary["rows"]:
        ours.setdefault(r["model"], r)
    header = ["model (paper)", *map(short, SHOWN), "ours / paper, N@20"]
    lines = [
        [
            m,
            *(f"{reported[m][x]:.4f}" for x in SHOWN),
            f"{mean_std(ours[m]['test']['ndcg@20'])[0] / reported[m]['ndcg@20']:.2f}",
        ]
        for m in ours
        if m in reported
    ]
    return (
        f"The paper's Table 2 for {summary['dataset']} ({paper['source']}; the paper's features: "
        f"{paper['features']}; here: {features(summary)}):\n\n" + to_markdown(header, lines)
    )


def render_exports(files: list[dict[str, Any]]) -> str:
    """``recommend.py --all-users`` measurements (``<out>.json``), a row each."""
    header = ["run", "users", "items", "top", "search", "users / s", "seconds", "peak memory (process)"]
    lines = [
        [
            f"`{f['run']}`",
            f"{f['users']:,}",
            f"{f['items']:,}",
            f["k"],
            f["index"],
            f"{f['users_per_second']:,.0f}",
            f"{f['seconds']:.1f}",
            f"{f['peak_rss_mb'] / 1024:.1f} GB",
        ]
        for f in files
    ]
    return to_markdown(header, lines)


def render_retrieval(files: list[dict[str, Any]]) -> str:
    """``bench_retrieval.py`` measurements: exact search against the FAISS index at each nprobe."""
    header = [
        "vectors",
        "search",
        "nprobe",
        "users / s",
        f"recall@{files[0]['k']}",
        "speed-up",
        "index build",
        "peak memory",
    ]
    lines = []
    for f in files:
        exact = f["exact_users_per_second"]
        lines.append(
            [
                f"{f['source']}; {f['users']:,} users",
                "exact",
                "-",
                f"{exact:,.0f}",
                "1.000",
                "1.0x",
                "-",
                f"{f['peak_rss_mb'] / 1024:.1f} GB",
            ]
        )
        for i, r in enumerate(f["by_nprobe"]):
            lines.append(
                [
                    "",
                    f"IVF, {f['nlist']:,} cells" if i == 0 else "",
                    r["nprobe"],
                    f"{r['users_per_second']:,.0f}",
                    f"{r['recall@' + str(f['k'])]:.3f}",
                    f"{r['users_per_second'] / exact:.1f}x",
                    f"{f['index_build_seconds']:.1f} s" if i == 0 else "",
                    "",
                ]
            )
    return f"({files[0]['machine']}; {files[0]['index']})\n\n" + to_markdown(header, lines)


def render_threads(files: list[dict[str, Any]]) -> str:
    """``bench_threads.py`` measurements: seconds per epoch by busy processes and ``--threads``."""
    header = ["busy processes", "`--threads`", "threads used", "train s / epoch", "valid N@20"]
    lines = [
        [
            r["load"],
            r["asked"] or "default",
            r["threads"],
            f"{r['train_seconds_per_epoch']:.1f}",
            f"{r['valid_ndcg@20']:.4f}",
        ]
        for f in files
        for r in f["rows"]
    ]
    return to_markdown(header, lines)


def render_files(registry: str | Path, pattern: str) -> str:
    """A block made of committed files: ``x.md`` verbatim, ``x.txt`` as a code block, or every JSON file that
    ``pattern`` (a glob under the registry) matches, rendered by what its fields say it is."""
    paths = sorted(Path(registry).glob(pattern))
    if not paths:
        raise InputError(Path(registry) / pattern, "no such file in the results registry")
    if pattern.endswith(".md"):
        return "".join(p.read_text(encoding="utf-8") for p in paths)
    if pattern.endswith(".txt"):
        return "".join(f"```\n{p.read_text(encoding='utf-8')}```\n" for p in paths)
    files = [read_json(p) for p in paths]
    if all("rows" in f and "train_seconds_per_epoch" in f["rows"][0] for f in files):
        return render_threads(files)
    if all("by_nprobe" in f for f in files):
        return render_retrieval(files)
    if all("users_per_second" in f and "run" in f for f in files):
        return render_exports(files)
    raise InputError(Path(registry) / pattern, "files of no known kind (retrieval, export or threads measurements)")


def render(registry: str | Path, key: str) -> str:
    """The Markdown of the registry table ``key`` (``dataset/table``); a Table 2 of a dataset the paper
    reports (``paper/table2.json``) comes with the paper's values. A key with a suffix or a ``*`` names
    committed files instead (:func:`render_files`)."""
    if "*" in key or Path(key).suffix:
        return render_files(registry, key)
    summary = read_table(registry, key)
    kind = summary.get("kind")
    if kind not in RENDERERS:
        raise InputError(
            Path(registry) / f"{key}.json", f"unknown table kind {kind!r}; expected one of {', '.join(RENDERERS)}"
        )
    text = RENDERERS[kind](summary)
    paper = Path(registry) / "paper" / "table2.json"
    if kind == "table2" and paper.is_file():
        reported = read_json(paper)
        if summary["dataset"] in reported["datasets"]:
            text += "\n" + render_paper_rows(summary, reported)
    return text


OPEN = re.compile(r"<!-- registry: (?P<key>[\w./*-]+) -->")
CLOSE = "<!-- /registry -->"


def blocks(text: str, source: str = "README") -> list[tuple[int, int, str]]:
    """The registry blocks of ``text``: (line of the opening marker, line of its closing marker, key), lines
    counted from 0. One line naming the line numbers for a marker of no known form, an opening marker inside
    an open block, a closing marker with none open, and a block never closed."""
    found: list[tuple[int, int, str]] = []
    opened: tuple[int, str] | None = None
    for number, line in enumerate(text.split("\n")):
        if "<!-- registry" not in line and "<!-- /registry" not in line:
            continue
        if (match := OPEN.fullmatch(line.strip())) is not None:
            if opened is not None:
                raise InputError(
                    source,
                    f"the block opened at line {opened[0] + 1} is not closed before the next one opens",
                    number + 1,
                )
            opened = (number, match["key"])
        elif line.strip() == CLOSE:
            if opened is None:
                raise InputError(source, "a closing registry marker with no block open", number + 1)
            found.append((opened[0], number, opened[1]))
            opened = None
        else:
            raise InputError(
                source,
                f"not a registry marker ({shorten(line.strip(), 60)}); expected "
                f"'<!-- registry: dataset/table -->' or '{CLOSE}' alone on the line",
                number + 1,
            )
    if opened is not None:
        raise InputError(source, f"the block opened here ({opened[1]}) is never closed with {CLOSE}", opened[0] + 1)
    return found


def regenerate(text: str, registry: str | Path, source: str = "README") -> tuple[str, list[tuple[str, int]]]:
    """``text`` with every ``<!-- registry: dataset/table -->`` ... ``<!-- /registry -->`` block rendered anew
    from the registry (text outside the blocks kept as it is), and for each block whose content changed its
    key and the line (from 1) of its first differing line in ``text``."""
    lines = text.split("\n")
    out: list[str] = []
    changed: list[tuple[str, int]] = []
    end = -1
    for opening, closing, key in blocks(text, source):
        out += lines[end + 1 : opening + 1]
        body = render(registry, key)
        old = "\n".join(lines[opening + 1 : closing])
        new = body[:-1] if body.endswith("\n") else body
        if old != new:
            old_lines, new_lines = old.split("\n"), new.split("\n")
            first = next(
                (i for i, (a, b) in enumerate(zip(old_lines, new_lines)) if a != b), min(len(old_lines), len(new_lines))
            )
            changed.append((key, opening + 2 + first))
        out += new.split("\n") if new else []
        out.append(lines[closing])
        end = closing
    out += lines[end + 1 :]
    return "\n".join(out), changed
