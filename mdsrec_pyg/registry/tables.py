"""The registry's result tables: Table 2 (a comparison of models, with its paired tests), Table 3 (the
ablations), Figures 3-4 (a sweep of one parameter), and the paper's own Table 2 values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tables import cell, mean_std, to_markdown
from .summary import Summary, short

SHOWN = ["recall@10", "ndcg@10", "recall@20", "ndcg@20"]


def improvement(test: dict[str, Any]) -> str:
    """The mean difference of a paired test in percent of the other model's mean ("-" where that mean is 0)."""
    return f"{100 * test['difference'] / test['mean_b']:+.1f}%" if test["mean_b"] else "-"


def recall_verdict(test: dict[str, Any], who: str, k: int) -> str:
    """The Recall@k line beside an NDCG verdict: McNemar's exact test on the hits, the bootstrap interval of
    the per-user difference, and whether the two verdicts disagree."""
    r = test["recall"]
    line = (
        f"**Recall@{k}, {who}: {improvement(r)} ({r['mean_a']:.4f} against {r['mean_b']:.4f}; 95% CI "
        f"[{r['ci_low']:+.4f}, {r['ci_high']:+.4f}]), hit by one only: {r['only_a']:,} against {r['only_b']:,}, "
        f"McNemar's exact p = {r['p_mcnemar']:.2g}: "
        + ("significant at 0.05" if r["significant"] else "not significant at 0.05: noise")
    )
    disagree = r["significant"] != test["significant"] or (
        r["significant"] and (r["difference"] > 0) != (test["difference"] > 0)
    )
    return line + ("; the Recall and the NDCG verdicts disagree.**" if disagree else ".**")


def feature_list(found: dict[str, int] | None) -> str:
    return ", ".join(f"{m} {d}-d" for m, d in sorted((found or {}).items())) or "none (ID models only)"


@dataclass
class PaperTable2(Summary):
    """The paper's Table 2 values, parsed from its text (``results/paper/table2.json``)."""

    kind = "paper"
    source: str
    features: str
    datasets: dict[str, dict[str, dict[str, float]]]  # dataset -> model -> metric -> value

    def render(self, to_root: str = "") -> str:
        return ""  # shown beside a Table 2 of ours (Table2Summary.render)

    def rows_beside(self, table: "Table2Summary") -> str:
        """The paper's values for the models of ``table``, beside ours (the first row of each model)."""
        reported = self.datasets[table.dataset]
        ours: dict[str, dict[str, Any]] = {}
        for r in table.rows:
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
            f"The paper's Table 2 for {table.dataset} ({self.source}; the paper's features: "
            f"{self.features}; here: {feature_list(table.features)}):\n\n" + to_markdown(header, lines)
        )

    def full_row_beside(self, table: "AblationSummary") -> str:
        """The paper's full MDSRec row beside the full model of an ablation table (the paper's Table 3 repeats
        its Table 2 row for the full model), with ours over the paper's."""
        reported = self.datasets[table.dataset]["mdsrec"]
        ours = {m: mean_std(table.rows[-1]["test"][m])[0] for m in table.metrics}
        header = ["model (paper)", *map(short, table.metrics), *(f"ours / paper, {short(m)}" for m in table.metrics)]
        line = ["MDSRec", *(f"{reported[m]:.4f}" for m in table.metrics)]
        line += [f"{ours[m] / reported[m]:.2f}" for m in table.metrics]
        return (
            f"The paper's full model on {table.dataset} (its Table 2 row, `paper/table2.json`, which its Table 3 "
            f"repeats; the paper's features: {self.features}):\n\n" + to_markdown(header, [line])
        )


@dataclass
class Table2Summary(Summary):
    """Table 2: a row per model and setting over seeds, the tuning search, and the paired tests of the
    proposed model against every other row."""

    kind = "table2"
    dataset: str
    seeds: list[int]
    models: list[str]
    features: dict[str, int]
    run_entries: str  # where the run entries lie in the registry
    tuned: bool
    grid: dict[str, list[float]] | None
    proposed: str
    k: int
    note: str
    tests: list[dict[str, Any]]
    rows: list[dict[str, Any]]  # model, setting, lr, dropout, test {metric: [per seed]}, best_epochs, runs, ...
    grid_valid_ndcg: dict[str, dict[str, float | str]] | None = None  # saved as "grid_valid_ndcg@20"
    compared_on: str = "test"  # the users the paired tests are over: "test", or "test_cold" (cold-start)

    @classmethod
    def from_dict(cls, values: dict[str, Any], path: Any) -> "Table2Summary":
        values = dict(values)
        values["grid_valid_ndcg"] = values.pop("grid_valid_ndcg@20", None)
        return super().from_dict(values, path)

    def to_dict(self) -> dict[str, Any]:
        values = super().to_dict()
        values["grid_valid_ndcg@20"] = values.pop("grid_valid_ndcg", None)
        if values["compared_on"] == "test":  # the tables before cold start, unchanged
            del values["compared_on"]
        return values

    def runs(self) -> list[str]:
        return [run for row in self.rows for run in row.get("runs", [])]

    def render(self, to_root: str = "", paper: PaperTable2 | None = None) -> str:
        best = {m: max(mean_std(r["test"][m])[0] for r in self.rows) for m in SHOWN}
        header = ["model", "setting", "lr", "dropout", *map(short, SHOWN), "best epoch", "s / run", "ran on"]
        lines = []
        for r in self.rows:
            cells = [
                f"**{cell(r['test'][m])}**" if mean_std(r["test"][m])[0] == best[m] else cell(r["test"][m])
                for m in SHOWN
            ]
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
        seeds = ", ".join(map(str, self.seeds))
        text = (
            f"{self.dataset}: test split, full ranking; seeds {seeds} (mean ± std over the seeds a row ran); "
            f"features: {feature_list(self.features)}; {self.note}\n\n" + to_markdown(header, lines)
        )
        if self.compared_on == "test_cold":
            text += "\n" + self.render_cold()
        if self.grid_valid_ndcg:
            text += "\n" + self.render_search()
        if all("seconds_to_best" in r for r in self.rows):
            text += "\n" + self.render_time_to_best()
        if self.tests:
            text += "\n" + self.render_tests()
        if paper is not None and self.dataset in paper.datasets and self.compared_on == "test":
            text += "\n" + paper.rows_beside(self)
        return text

    def render_cold(self) -> str:
        """A cold-start table's rows over the test users with a held-out target and over the others."""
        stages, metrics = [("test_cold", "cold"), ("test_warm", "warm")], ("recall@20", "ndcg@20")
        shown = [(stage, m) for stage, _ in stages for m in metrics]
        best = {key: max(mean_std(r[key[0]][key[1]])[0] for r in self.rows) for key in shown}
        lines = [
            [
                r["model"],
                r["setting"],
                *(
                    f"**{cell(r[stage][m])}**" if mean_std(r[stage][m])[0] == best[(stage, m)] else cell(r[stage][m])
                    for stage, m in shown
                ),
            ]
            for r in self.rows
        ]
        header = ["model", "setting", *(f"{label} {short(m)}" for _, label in stages for m in metrics)]
        users = self.rows[0].get("cold_start", {})
        return (
            f"Cold start: {users.get('items', '?'):,} items held out of training and added back by their features "
            f"for the test; {users.get('users', '?'):,} test users have a held-out target (cold), the others a "
            "trained one (warm):\n\n" + to_markdown(header, lines)
        )

    def render_time_to_best(self) -> str:
        """Each trainable row's wall time to its best validation epoch (training and validation up to it, as
        run: a row's seeds ran one after another on the machine "ran on" says), and the proposed model's
        ratio to every other row, seed by seed."""
        trainable = [r for r in self.rows if r["lr"] is not None]
        lines = [
            [
                r["model"],
                r["setting"],
                cell(r["seconds_to_best"], 1),
                ", ".join(f"{t:.0f}" for t in r["seconds_to_best"]),
                ",".join(str(e) for e in r["best_epochs"]),
                cell([t / max(e, 1) for t, e in zip(r["seconds_to_best"], r["best_epochs"])], 1),
            ]
            for r in trainable
        ]
        header = ["model", "setting", "s to best validation", "per seed", "best epoch", "s / epoch"]
        text = "Time to the best validation epoch (seconds):\n\n" + to_markdown(header, lines)
        mine = next((r for r in trainable if r["model"] == self.proposed), None)
        ratios = [
            f"{r['model']} ({r['setting']}) "
            + ", ".join(f"{a / b:.2f}x" for a, b in zip(mine["seconds_to_best"], r["seconds_to_best"]))
            for r in trainable
            if mine is not None
            and r["model"] != self.proposed
            and len(r["seconds_to_best"]) == len(mine["seconds_to_best"])
        ]
        if ratios:
            text += f"\n{self.proposed}'s time to its best validation epoch against: " + "; ".join(ratios)
            text += " (seed by seed).\n"
        return text

    def render_search(self) -> str:
        """The validation NDCG@20 of every searched setting, per model (the chosen one in bold)."""
        grid = self.grid_valid_ndcg or {}
        settings = list(next(iter(grid.values())))
        lines = []
        for model, scores in grid.items():
            numbers = {k: v for k, v in scores.items() if isinstance(v, float)}
            best = max(numbers, key=numbers.get) if numbers else None
            shown = [
                ("**{:.4f}**" if k == best else "{:.4f}").format(v) if isinstance(v, float) else "failed"
                for k, v in scores.items()
            ]
            lines.append([model, *shown])
        return (
            f"The search: validation NDCG@20 of each setting, seed {self.seeds[0]} (the chosen in bold):\n\n"
            + to_markdown(["model", *settings], lines)
        )

    def render_tests(self) -> str:
        """The paired tests, then the verdict on the best other model."""
        k, proposed = self.k, self.proposed
        header = ["against", "setting", f"{proposed} N@{k}", f"other N@{k}", "difference", "improv."]
        header += ["95% CI (bootstrap)", "Wilcoxon p", "p < 0.05"]
        lines = [
            [
                t["other"],
                t["setting"],
                f"{t['mean_a']:.4f}",
                f"{t['mean_b']:.4f}",
                f"{t['difference']:+.4f}",
                improvement(t),
                f"[{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]",
                f"{t['p_wilcoxon']:.2g}",
                "yes" if t["significant"] else "no",
            ]
            for t in self.tests
        ]
        best = self.tests[0]  # ordered by setting, then by the other model's NDCG, best first
        verdict = (
            f"**{proposed} against the best other model ({best['other']}, {best['setting']} setting): "
            f"{improvement(best)} NDCG@{k}, p = {best['p_wilcoxon']:.2g}: "
            + ("significant at 0.05.**" if best["significant"] else "not significant at 0.05: noise.**")
        )
        if "recall" in best:
            verdict += "\n\n" + recall_verdict(best, f"{proposed} against {best['other']}", k)
        users = "test users with a held-out target" if self.compared_on == "test_cold" else "test users"
        return (
            f"Paired over {best['users']:,} {users}, per-user NDCG@{k} ({proposed} minus the other; a "
            "user's value is its mean over the seeds):\n\n" + to_markdown(header, lines) + "\n" + verdict + "\n"
        )


@dataclass
class AblationSummary(Summary):
    """Table 3: a row per variant (the full model last), each paired-tested against the full model."""

    kind = "ablation"
    dataset: str
    seeds: list[int]
    metrics: list[str]
    run_entries: str
    k: int
    users: int
    rows: list[dict[str, Any]]  # variant, test {metric: [per seed]}, best_epochs, runs, test_against_full
    note: str

    def runs(self) -> list[str]:
        return [run for row in self.rows for run in row.get("runs", [])]

    def render(self, to_root: str = "", paper: PaperTable2 | None = None) -> str:
        metrics, full = self.metrics, self.rows[-1]
        header = ["variant", *map(short, metrics), *(f"drop {short(m)}" for m in metrics)]
        header += [f"N@{self.k} full - variant (95% CI)", "Wilcoxon p", "p < 0.05"]
        lines = []
        for r in self.rows:
            full_means = [mean_std(full["test"][m])[0] for m in metrics]
            drops = [100 * (f - mean_std(r["test"][m])[0]) / f for f, m in zip(full_means, metrics)]
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
        seeds = ", ".join(map(str, self.seeds))
        return (
            f"Ablations of MDSRec on {self.dataset}, test split, seeds {seeds} (mean ± std); drop: how much "
            f"lower than MDSRec; the test is paired over {self.users:,} users (full minus variant); "
            f"{self.note}\n\n" + to_markdown(header, lines) + "\n" + self.verdict() + "\n"
        ) + ("\n" + paper.full_row_beside(self) if paper is not None and self.dataset in paper.datasets else "")

    def verdict(self) -> str:
        tested = [(r["variant"], r["test_against_full"]) for r in self.rows if r.get("test_against_full")]
        recall = [
            recall_verdict(t, f"MDSRec against {v}", self.k).replace("MDSRec against", "full against", 1)
            for v, t in tested
            if "recall" in t
        ]
        matter = [v for v, t in tested if t["significant"] and t["difference"] > 0]
        helps = [v for v, t in tested if t["significant"] and t["difference"] < 0]
        noise = [v for v, t in tested if not t["significant"]]
        return (
            f"**Removing a component lowers NDCG@{self.k} beyond noise (p < 0.05) for: "
            f"{', '.join(matter) or 'none'}; within noise: {', '.join(noise) or 'none'}"
            + (f"; raises it beyond noise: {', '.join(helps)}" if helps else "")
            + ".**"
            + "".join("\n\n" + line for line in recall)
        )


@dataclass
class SweepSummary(Summary):
    """Figures 3-4: the metrics at each value of one parameter (the dataset's default marked), its plot, and
    each value's paired test against the default where the default was swept."""

    kind = "sweep"
    dataset: str
    param: str
    default: Any
    seeds: list[int]
    metrics: list[str]
    points: list[dict[str, Any]]  # value, test / valid {metric: [per seed]}, best_epochs, runs, test_against_default
    figure: str  # the plot, relative to the project root
    run_entries: str
    note: str
    model: str | None = None  # the model swept (None: MDSRec, in sweeps made before other models could be)
    k: int | None = None  # the cut-off of the paired tests (None: a sweep made before they were)

    def runs(self) -> list[str]:
        return [run for point in self.points for run in point.get("runs", [])]

    def render(self, to_root: str = "") -> str:
        points = self.points
        header = [self.param] + [f"{p['value']}{' (default)' if p['value'] == self.default else ''}" for p in points]
        lines = [[f"test {short(m)}"] + [cell(p["test"][m]) for p in points] for m in self.metrics]
        lines += [[f"valid {short(m)}"] + [cell(p["valid"][m]) for p in points] for m in self.metrics]
        lines.append(["best epoch"] + [",".join(map(str, p["best_epochs"])) for p in points])
        lines += self.test_lines()
        seeds = ", ".join(map(str, self.seeds))
        label = "MDSRec" if self.model in (None, "mdsrec") else self.model
        return (
            f"{label} on {self.dataset} against {self.param}, test split, seeds {seeds}; {self.note}\n\n"
            + to_markdown(header, lines)
            + "".join("\n" + line + "\n" for line in self.verdicts())
            + f"\n![{label} on {self.dataset}: impact of {self.param}]({to_root}{self.figure})\n"
        )

    def test_lines(self) -> list[list[str]]:
        """The table's rows of the paired tests against the default (none where no point has one)."""
        tests = [p.get("test_against_default") for p in self.points]
        if not any(tests):
            return []
        k = self.k

        def row(label: str, show) -> list[str]:
            return [label] + ["-" if t is None else show(t) for t in tests]

        return [
            row(
                f"N@{k} - default (95% CI)",
                lambda t: f"{t['difference']:+.4f} [{t['ci_low']:+.4f}, {t['ci_high']:+.4f}]",
            ),
            row("Wilcoxon p", lambda t: f"{t['p_wilcoxon']:.2g}"),
            row(
                f"R@{k} hit by this / default only", lambda t: f"{t['recall']['only_a']:,} / {t['recall']['only_b']:,}"
            ),
            row("McNemar p", lambda t: f"{t['recall']['p_mcnemar']:.2g}"),
        ]

    def verdicts(self) -> list[str]:
        """One line per value tested against the default: NDCG@k's verdict, then Recall@k's."""
        lines = []
        for p in self.points:
            t = p.get("test_against_default")
            if t is None:
                continue
            who = f"{self.param}={p['value']} against {self.default}"
            ndcg = (
                f"**NDCG@{self.k}, {who}: {improvement(t)} ({t['mean_a']:.4f} against {t['mean_b']:.4f}), "
                f"Wilcoxon p = {t['p_wilcoxon']:.2g}: "
                + ("significant at 0.05.**" if t["significant"] else "not significant at 0.05: noise.**")
            )
            lines += [ndcg, recall_verdict(t, who, self.k)]
        return lines
