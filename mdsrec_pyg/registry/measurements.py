"""The registry's measurements: ``bench.py``'s stages and ratios, ``recommend.py --all-users`` exports,
``bench_retrieval.py``'s exact search against the FAISS index, ``bench_threads.py``'s threads, ``bench_load.py``'s
loading, and ``bench_catalog.py``'s step time against catalog size. Several
files of one kind (a glob in a page's marker) render as one table: :meth:`render_together`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..tables import to_markdown
from .summary import Summary


@dataclass
class BenchSummary(Summary):
    """A ``bench.py`` file: every stage side by side in one process, then the ratios it measured."""

    kind = "bench"
    command: str
    commit: str | None
    dataset: str
    items: int
    users: int
    features: dict[str, list[int]]
    device: str
    torch: str
    stages: list[dict[str, Any]]  # stage, seconds, peak_rss_mb, note
    epoch_ratio_mdsrec_sasrec: float
    eval_users_per_second_sasrec: float
    eval_users_per_second_mdsrec: float
    knn_recall: float | None = None
    knn_speedup: float | None = None
    knn_exact_extrapolated: bool = False
    floor_ratio_mdsrec_sasrec: float | None = None  # of the counted multiply-adds (benchmarks.multiply_adds)
    multiply_adds_sasrec: dict[str, float] | None = None
    multiply_adds_mdsrec: dict[str, float] | None = None
    worst_step_mb_sasrec: float | None = None  # memory the step on the longest rows adds at its peak
    worst_step_mb_mdsrec: float | None = None
    eval_floor_ratio_sasrec_mdsrec: float | None = None  # MDSRec's counted full-ranking work over SASRec's
    epoch_ratio_mdsrec_no_ica_sasrec: float | None = None  # the same epoch of MDSRec without ICA
    stand_in_features: list[str] | bool = True  # the stand-in modalities (True: all, as files before the list)
    # by model: the warm epoch with freed memory returned (glibc's default) over the same epoch with it kept
    # (training.keep_freed_memory), side by side
    kept_memory_speedup: dict[str, float] | None = None

    def feature_list(self) -> str:
        """The features a run used, stand-ins said apart from a dataset's own."""
        listed = ", ".join(f"{m} {shape[1]}-d" for m, shape in self.features.items())
        if self.stand_in_features is True:
            return f"stand-in random features: {listed}"
        label = {True: "stand-in, random", False: "the dataset's own"}
        return "features: " + ", ".join(
            f"{m} {shape[1]}-d ({label[m in self.stand_in_features]})" for m, shape in self.features.items()
        )

    def render(self, to_root: str = "") -> str:
        header = ["stage", "seconds", "peak RSS (MB)", "note"]
        lines = [[r["stage"], f"{r['seconds']:.2f}", f"{r['peak_rss_mb']:,.0f}", r["note"] or ""] for r in self.stages]
        ratios = [
            f"MDSRec / SASRec epoch time: **{self.epoch_ratio_mdsrec_sasrec:.2f}x**",
            f"full ranking: {self.eval_users_per_second_sasrec:,.0f} users/s (SASRec), "
            f"{self.eval_users_per_second_mdsrec:,.0f} (MDSRec)"
            + (
                f", SASRec's **{self.eval_users_per_second_sasrec / self.eval_users_per_second_mdsrec:.2f}x** "
                f"MDSRec's against **{self.eval_floor_ratio_sasrec_mdsrec:.2f}x** counted"
                if self.eval_floor_ratio_sasrec_mdsrec is not None
                else ""
            ),
        ]
        if self.floor_ratio_mdsrec_sasrec is not None:
            terms = ", ".join(f"{t} {v / 1e12:.2f}" for t, v in (self.multiply_adds_mdsrec or {}).items())
            ratios[0] += (
                f" against **{self.floor_ratio_mdsrec_sasrec:.2f}x** counted (the floor: multiply-adds of the "
                f"objective, forward and backward, in T: MDSRec {terms}; SASRec "
                f"{sum((self.multiply_adds_sasrec or {}).values()) / 1e12:.2f})"
            )
        if self.epoch_ratio_mdsrec_no_ica_sasrec is not None:
            ratios[0] += f"; without ICA (`ica=false`, the same rows) {self.epoch_ratio_mdsrec_no_ica_sasrec:.2f}x"
        if self.worst_step_mb_mdsrec is not None:
            ratios.append(
                f"one step on the longest rows adds {self.worst_step_mb_sasrec:,.0f} MB (SASRec) and "
                f"**{self.worst_step_mb_mdsrec:,.0f} MB** (MDSRec) at its peak"
            )
        if self.kept_memory_speedup:
            faster = ", ".join(f"{name} {speedup:.2f}x" for name, speedup in self.kept_memory_speedup.items())
            ratios.append(
                "the same epoch with freed memory kept for reuse (`keep_freed_memory=true`) against returned "
                f"(glibc's default), side by side: {faster} faster"
            )
        if self.knn_recall is not None:
            scaled = " (the exact time scaled from a sample)" if self.knn_exact_extrapolated else ""
            knn = f"{self.knn_recall:.3f}, {self.knn_speedup:.0f}x faster{scaled}"
            ratios.append(f"pynndescent recall against exact search: {knn}")
        return (
            f"`{self.command}` ({self.dataset}: {self.items:,} items, {self.users:,} users; "
            f"{self.feature_list()}; {self.device}, torch {self.torch}, commit "
            f"{self.commit or '?'}):\n\n" + to_markdown(header, lines) + "\n" + "; ".join(ratios) + ".\n"
        )


@dataclass
class ExportSummary(Summary):
    """The report of a ``recommend.py --all-users`` export, beside the file it describes."""

    kind = "export"
    run: str
    k: int
    index: str
    exclude_seen: bool
    users: int
    items: int
    format: str
    seconds: float
    users_per_second: float
    peak_rss_mb: float

    @classmethod
    def render_together(cls, files: list["ExportSummary"], to_root: str = "") -> str:
        header = ["run", "users", "items", "top", "search", "users / s", "seconds", "peak memory (process)"]
        lines = [
            [
                f"`{f.run}`",
                f"{f.users:,}",
                f"{f.items:,}",
                f.k,
                f.index,
                f"{f.users_per_second:,.0f}",
                f"{f.seconds:.1f}",
                f"{f.peak_rss_mb / 1024:.1f} GB",
            ]
            for f in files
        ]
        return to_markdown(header, lines)


@dataclass
class RetrievalSummary(Summary):
    """A ``bench_retrieval.py`` file: exact top-K search against the FAISS index at each nprobe."""

    kind = "retrieval"
    source: str
    items: int
    dim: int
    users: int
    k: int
    exact_seconds: float
    exact_users_per_second: float
    machine: str
    index: str
    nlist: int
    index_build_seconds: float
    by_nprobe: list[dict[str, Any]]  # nprobe, seconds, users_per_second, recall@k
    peak_rss_mb: float

    def rows(self) -> list[list[Any]]:
        exact = self.exact_users_per_second
        memory = f"{self.peak_rss_mb / 1024:.1f} GB"
        rows = [[f"{self.source}; {self.users:,} users", "exact", "-", f"{exact:,.0f}", "1.000", "1.0x", "-", memory]]
        for i, r in enumerate(self.by_nprobe):
            rows.append(
                [
                    "",
                    f"IVF, {self.nlist:,} cells" if i == 0 else "",
                    r["nprobe"],
                    f"{r['users_per_second']:,.0f}",
                    f"{r['recall@' + str(self.k)]:.3f}",
                    f"{r['users_per_second'] / exact:.1f}x",
                    f"{self.index_build_seconds:.1f} s" if i == 0 else "",
                    "",
                ]
            )
        return rows

    @classmethod
    def render_together(cls, files: list["RetrievalSummary"], to_root: str = "") -> str:
        header = ["vectors", "search", "nprobe", "users / s", f"recall@{files[0].k}", "speed-up", "index build"]
        header.append("peak memory")
        lines = [row for f in files for row in f.rows()]
        return f"({files[0].machine}; {files[0].index})\n\n" + to_markdown(header, lines)


@dataclass
class ThreadsSummary(Summary):
    """A ``bench_threads.py`` file: seconds per epoch by busy processes and ``--threads``."""

    kind = "threads"
    machine: str
    epochs: int
    rows: list[dict[str, Any]]  # load, load_average, asked, threads, train_seconds_per_epoch, valid_ndcg@20

    @classmethod
    def render_together(cls, files: list["ThreadsSummary"], to_root: str = "") -> str:
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
            for r in f.rows
        ]
        return to_markdown(header, lines)


@dataclass
class LoadSummary(Summary):
    """A ``bench_load.py`` file: loading a trained run through the relation-graph stage against from its
    weights, side by side (the best of the repeats)."""

    kind = "load"
    machine: str
    repeats: int
    rows: list[dict[str, Any]]  # run, model, dataset, items, features, dataset_seconds, stage_seconds, ...

    def render(self, to_root: str = "") -> str:
        header = ["run", "items", "features", "dataset read", "through the stage", "from best.pt", "ratio"]
        lines = []
        for r in self.rows:
            stage, stored = min(r["stage_seconds"]), min(r["stored_seconds"])
            features = ", ".join(f"{m} {shape[1]}-d" for m, shape in r["features"].items())
            lines.append(
                [
                    f"`{r['run']}`",
                    f"{r['items']:,}",
                    features,
                    f"{r['dataset_seconds']:.1f} s",
                    f"{stage:.2f} s",
                    f"{stored:.2f} s",
                    f"{stage / stored:.0f}x",
                ]
            )
        return f"({self.machine}; best of {self.repeats} repeats each, alternately)\n\n" + to_markdown(header, lines)


@dataclass
class CatalogStepsSummary(Summary):
    """A ``bench_catalog.py`` file: each model's training step at two catalog sizes, dense Adam against the
    row-wise optimiser, side by side in one process."""

    kind = "catalog_steps"
    command: str
    commit: str | None
    machine: str
    items: list[int]  # the two catalog sizes, smaller first
    sequences: int
    rows: list[dict[str, Any]]  # model, optimizer, step_seconds_<items>, catalog_parameters_<items>, ..., ratio

    def render(self, to_root: str = "") -> str:
        small, large = self.items
        header = [
            "model",
            "optimizer",
            f"s / step, {small:,} items",
            f"s / step, {large:,} items",
            f"{large:,} / {small:,}",
            "within 1.5x",
            f"parameters with a row per item, {large:,}",
            "other parameters",
        ]
        lines = [
            [
                r["model"],
                r["optimizer"],
                f"{r[f'step_seconds_{small}']:.3f}",
                f"{r[f'step_seconds_{large}']:.3f}",
                f"**{r['ratio']:.2f}x**",
                "yes" if r["ratio"] <= 1.5 else "no",
                f"{r[f'catalog_parameters_{large}']:,}",
                f"{r[f'other_parameters_{large}']:,}",
            ]
            for r in self.rows
        ]
        return (
            f"`{self.command}` ({self.machine}, commit {(self.commit or 'unknown')[:12]}; {self.sequences:,} "
            f"users at each size, batches of the same shapes, the median of the timed steps)\n\n"
            + to_markdown(header, lines)
            + "".join(f"\n{line}\n" for line in self.findings())
        )

    def findings(self) -> list[str]:
        """What the rows say at the larger size: the row-wise optimiser's gain over dense Adam per model, and
        MDSRec's step against SASRec's."""
        large = self.items[1]
        step = {(r["model"], r["optimizer"]): r[f"step_seconds_{large}"] for r in self.rows}
        gains = [
            f"{m} {t / step[m, 'lazy_adam']:.2f}x"
            for (m, o), t in step.items()
            if o == "adam" and (m, "lazy_adam") in step
        ]
        lines = (
            [f"At {large:,} items the row-wise optimiser's step is faster than dense Adam's by: {', '.join(gains)}."]
            if gains
            else []
        )
        both = [o for (m, o) in step if m == "mdsrec" and ("sasrec", o) in step]
        if both:
            ratios = [f"{step['mdsrec', o] / step['sasrec', o]:.2f}x SASRec's with {o}" for o in both]
            only = "" if "lazy_adam" in both else " (Adam only: lazy Adam needs mdsrec.centre_sample)"
            lines.append(f"MDSRec's step{only} at {large:,} items: {', '.join(ratios)}.")
        return lines
