"""Nothing a user does destroys a run, a README or a result: one table of bad inputs per mechanism (the writer,
the run folder, the registry and its renderer, bounds, typed inputs), each case with the one line it gives,
its exit status, and the files around it unchanged (checksums before and after)."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import io as text_io
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT

from mdsrec_pyg import io
from mdsrec_pyg.cli import command_line
from mdsrec_pyg.config import read_config_file
from mdsrec_pyg.data.readers.common import check_finite
from mdsrec_pyg.errors import InputError, shorten
from mdsrec_pyg.graphs.cooccurrence import check_size, estimated_bytes
from mdsrec_pyg.registry.pages import regenerate
from mdsrec_pyg.runs import RunFolder
from mdsrec_pyg.threads import available_cores, set_threads

TINY = ["--model", "sasrec", "--epochs", "2", "--set", "hidden_size=16", "--set", "inner_size=16", "--set", "max_len=8"]


def checksums(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder`` (hidden temporary files included), by relative path."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def command(name: str, *argv: str) -> tuple[int, str, str]:
    """``python experiments/<name> argv`` in this process (no second torch import): exit status, stdout,
    stderr."""
    spec = importlib.util.spec_from_file_location(f"experiments_{name}", ROOT / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err = text_io.StringIO(), text_io.StringIO()
    status = 0
    with redirect_stdout(out), redirect_stderr(err):
        try:
            command_line(lambda: module.main(list(argv)))
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 2
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    return status, out.getvalue(), err.getvalue()


def refused(result: tuple[int, str, str], message: str) -> None:
    """Exit 2 and one ``error:`` line holding ``message``, no traceback."""
    status, _, err = result
    lines = [line for line in err.splitlines() if line.startswith("error")]
    assert status == 2 and len(lines) == 1 and message in lines[0], err
    assert "Traceback" not in err


# ----- the writer -----


def test_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    io.write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"


def test_a_character_device_is_written_in_place_and_a_full_one_is_one_line(tmp_path):
    io.write_text("/dev/null", "nothing")  # not replaced by a regular file
    assert Path("/dev/null").is_char_device()
    if Path("/dev/full").exists():
        with pytest.raises(io.OutputError, match="No space left on device"):
            io.write_text("/dev/full", "x" * 100_000)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    path = tmp_path / "results.json"
    path.write_text('{"kept": true}')
    before = checksums(tmp_path)

    def full_disk(tmp: str) -> None:
        with open(tmp, "w") as handle:
            handle.write("half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    with pytest.raises(io.OutputError, match=r"results.json: cannot be written \(No space left on device\); its old"):
        io.atomic_file(path, full_disk)
    assert checksums(tmp_path) == before

    def interrupted(tmp: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.atomic_file(path, interrupted)
    assert checksums(tmp_path) == before


def test_a_set_of_files_is_replaced_together_or_not_at_all(tmp_path):
    io.write_set(tmp_path, {"a.txt": io.text_writer("a1"), "b.txt": io.text_writer("b1")})
    before = checksums(tmp_path)

    def broken(tmp: str) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    with pytest.raises(io.OutputError):
        io.write_set(tmp_path, {"a.txt": io.text_writer("a2"), "b.txt": broken})
    assert checksums(tmp_path) == before  # a.txt not replaced alone, no temporary file left
    io.write_set(tmp_path, {"a.txt": io.text_writer("a3")}, owned=("a.txt", "b.txt"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]  # the earlier set's b.txt removed


def run_like(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "results.json", "best.pt"):
        (folder / name).write_text("{}")
    return folder


@pytest.mark.parametrize(
    "target, suffixes, message",
    [
        ("run/best.pt", None, "run's own best.pt"),
        ("run/results.json", None, "run's own results.json"),
        ("run/config.json", (".md",), "run's own config.json"),
        ("run/config.json", (".json",), "run's own config.json"),
        ("run", None, "is a folder; expected a file path"),
        ("out.PARQUET", (".csv",), "expected a file ending in .csv"),
        ("a-file/out.csv", (".csv",), "is a file, not a folder"),
        ("/proc/out.csv", (".csv",), "cannot write in /proc"),
    ],
)
def test_an_output_target_is_checked_before_any_work(tmp_path, monkeypatch, target, suffixes, message):
    run_like(tmp_path / "run")
    (tmp_path / "a-file").write_text("x")
    monkeypatch.chdir(tmp_path)
    before = checksums(tmp_path)
    with pytest.raises(InputError, match=message):
        io.check_target(target, "--out", suffixes)
    assert checksums(tmp_path) == before


def test_a_link_into_a_run_is_refused_as_the_run_file_it_points_to(tmp_path):
    run_like(tmp_path / "run")
    (tmp_path / "innocent.csv").symlink_to(tmp_path / "run" / "best.pt")
    with pytest.raises(InputError, match="own best.pt"):
        io.check_target(tmp_path / "innocent.csv", "--out", (".csv",))


# ----- the run folder: its lock -----


def _hold(folder: str, start: float, queue) -> None:
    while time.time() < start:  # every process starts at the same instant
        pass
    try:
        with RunFolder(folder).lock():
            began = time.time()
            time.sleep(0.05)
            queue.put((began, time.time()))
    except InputError:
        queue.put(None)


def test_two_runs_started_at_the_same_instant_never_both_hold_the_lock(tmp_path):
    context = multiprocessing.get_context("fork")
    for trial in range(50):
        folder = tmp_path / f"run{trial}"
        folder.mkdir()
        queue = context.Queue()
        start = time.time() + 0.2
        workers = [context.Process(target=_hold, args=(str(folder), start, queue)) for _ in range(2)]
        for w in workers:
            w.start()
        outcomes = [queue.get(timeout=30) for _ in workers]
        for w in workers:
            w.join()
        held = sorted(o for o in outcomes if o is not None)
        assert held, "nobody took the lock"
        for (_, end), (begin, _) in zip(held, held[1:]):
            assert begin >= end, f"trial {trial}: two holders at once"
        assert not (folder / "run.lock").exists()


def test_a_lock_left_by_an_ended_process_is_taken_and_a_held_one_is_named(tmp_path):
    folder = RunFolder(tmp_path)
    (tmp_path / "run.lock").write_text("999999\n")  # an old lock file whose process ended (no flock held)
    assert folder.holder() is None
    with folder.lock():
        child = subprocess.run(
            [
                sys.executable,
                "-c",
                f"from mdsrec_pyg.runs import RunFolder; print(RunFolder({str(tmp_path)!r}).holder())",
            ],
            capture_output=True,
            text=True,
        )
        assert child.stdout.strip() == str(os.getpid())
        assert folder.holder() is None  # this process holds it: not "another"
    assert not (tmp_path / "run.lock").exists()


# ----- the run folder: what it holds -----


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished two-epoch SASRec run (its checkpoint kept) and an unfinished copy of it."""
    root = tmp_path_factory.mktemp("safe")
    out = root / "run"
    status, _, err = command(
        "run", *TINY, "--keep-checkpoint", "--set", f"graph_dir={root / 'graphs'}", "--out", str(out)
    )
    assert status == 0, err[-2000:]
    return out


@pytest.fixture
def unfinished(finished, tmp_path):
    copy = shutil.copytree(finished, tmp_path / "unfinished")
    (copy / "results.json").unlink()
    return copy


def test_a_finished_run_of_other_settings_is_not_trained_into(finished):
    before = checksums(finished)
    refused(
        command("run", *TINY, "--set", "lr=0.003", "--out", str(finished)),
        "holds a finished run of other settings (lr: 0.001 there, 0.003 here)",
    )
    assert checksums(finished) == before
    status, out, _ = command("run", *TINY, "--out", str(finished))  # the same settings: nothing to train
    assert status == 0 and "nothing to train" in out and checksums(finished) == before


def test_replace_discards_the_old_run_on_purpose(finished, tmp_path):
    copy = shutil.copytree(finished, tmp_path / "copy")
    status, _, err = command("run", *TINY, "--set", "lr=0.003", "--replace", "--out", str(copy))
    assert status == 0, err
    assert json.loads((copy / "results.json").read_text())["config"]["training"]["lr"] == 0.003


@pytest.mark.parametrize("flag", [["--epochs", "5"], ["--set", "lr=0.1"], ["--model", "gru4rec"], ["--seed", "1"]])
def test_resume_refuses_a_flag_it_would_ignore(unfinished, flag):
    before = checksums(unfinished)
    refused(command("run", "--resume", str(unfinished), *flag), "would be ignored")
    assert checksums(unfinished) == before


def test_resume_after_config_json_was_edited_is_refused(unfinished):
    saved = json.loads((unfinished / "config.json").read_text())
    saved["training"]["lr"] = 0.01
    (unfinished / "config.json").write_text(json.dumps(saved))
    before = checksums(unfinished)
    refused(
        command("run", "--resume", str(unfinished)),
        "is not the config the checkpoint was trained with (lr: 0.001 there, 0.01 here",
    )
    assert checksums(unfinished) == before


def test_an_unfinished_run_of_these_settings_is_resumed_not_started_over(unfinished):
    refused(command("run", *TINY, "--out", str(unfinished)), "--resume")


def test_a_run_whose_config_json_is_not_its_results_config_is_not_served(finished, tmp_path):
    from mdsrec_pyg import Recommender

    copy = shutil.copytree(finished, tmp_path / "swapped")
    results = json.loads((copy / "results.json").read_text())
    results["config"]["sasrec"]["num_heads"] = 1
    (copy / "results.json").write_text(json.dumps(results))
    with pytest.raises(InputError, match="config.json is not the config results.json recorded"):
        Recommender.load(copy)


def test_an_unfinished_run_is_advised_what_finishes_it(unfinished):
    from mdsrec_pyg import Recommender

    with pytest.raises(InputError, match="--resume"):
        Recommender.load(unfinished)
    (unfinished / "checkpoint.pt").unlink()
    with pytest.raises(InputError, match="never finished an epoch"):
        Recommender.load(unfinished)


def test_bad_data_is_refused_before_the_run_folder_is_made(tmp_path):
    data = tmp_path / "data" / "broken"
    data.mkdir(parents=True)
    (data / "user_sequence.txt").write_text("u1 a\n")
    out = tmp_path / "never"
    refused(command("run", "--dataset", str(data), "--model", "sasrec", "--out", str(out)), "nothing to train")
    assert not out.exists()


def test_sigterm_ends_a_run_like_ctrl_c(tmp_path):
    out = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "run.py"), *TINY, "--epochs", "200", "--set", "patience=200"]
        + ["--out", str(out)],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists() and time.time() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 143, err
    assert err.strip().splitlines()[-1].startswith("interrupted: ") and "--resume" in err
    assert not (out / "run.lock").exists() and not list(out.glob(".*.tmp"))


# ----- recommend.py: outputs -----


@pytest.mark.parametrize(
    "args, message",
    [
        (["--all-users", "--out", "{run}/best.pt"], "run's own best.pt"),
        (["--all-users", "--out", "{run}/results"], "expected a file ending in .csv or .parquet"),
        (["--user", "u3", "--out", "{run}/config.json"], "run's own config.json"),
        (["--user", "u3", "--out", "x.parquet"], "expected a file ending in .md or .txt"),
        (["--all-users", "--out", "/proc/top.csv"], "cannot write in /proc"),
        (["--all-users", "--out", "{run}/best.pt/top.csv"], "is a file, not a folder"),
        (["--user", "u3", "--k", "0"], "--k: got 0; expected an integer >= 1"),
        (["--user", "u3", "--device", "cuda"], "no CUDA GPU"),
        (["--user", "u3", "--nprobe", "4"], "applies to --index faiss only"),
        (["--all-users", "--export-vectors", "{run}/best.pt"], "is a file; expected a folder"),
    ],
)
def test_recommend_refuses_an_output_that_would_destroy_or_mislead(finished, args, message):
    before = checksums(finished)
    refused(command("recommend", "--run", str(finished), *[a.format(run=finished) for a in args]), message)
    assert checksums(finished) == before


def test_an_export_of_vectors_replaces_an_earlier_one_as_a_set(finished, tmp_path):
    out = tmp_path / "vectors"
    assert (
        command(
            "recommend",
            "--run",
            str(finished),
            "--all-users",
            "--out",
            str(tmp_path / "top.csv"),
            "--export-vectors",
            str(out),
        )[0]
        == 0
    )
    assert (out / "user_vectors.npy").exists() and (tmp_path / "top.csv.json").exists()
    assert command("recommend", "--run", str(finished), "--user", "u3", "--export-vectors", str(out))[0] == 0
    assert sorted(p.name for p in out.iterdir()) == ["item_ids.txt", "item_vectors.npy"]


def test_recommend_works_from_another_folder_and_writes_nothing_there(finished, tmp_path, monkeypatch, caplog):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    status, _, err = command("recommend", "--run", str(finished), "--user", "u3", "--k", "100000")
    assert status == 0, err
    assert list(elsewhere.iterdir()) == []
    assert "every item is ranked" in caplog.text  # k capped at the catalog: no padding to 100,000


def test_a_run_on_a_relative_dataset_path_loads_and_resumes_from_anywhere(tmp_path, monkeypatch):
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    (home / "data" / "tiny").mkdir(parents=True)
    elsewhere.mkdir()
    rng = np.random.default_rng(0)
    rows = [f"u{u} " + " ".join(f"i{i}" for i in rng.choice(30, 6, replace=False)) for u in range(40)]
    (home / "data" / "tiny" / "user_sequence.txt").write_text("\n".join(rows) + "\n")
    run = tmp_path / "run"
    monkeypatch.chdir(home)
    status, _, err = command("run", *TINY, "--dataset", "data/tiny", "--keep-checkpoint", "--out", str(run))
    assert status == 0, err
    monkeypatch.chdir(elsewhere)
    from mdsrec_pyg import Recommender

    assert Recommender.load(run).recommend_users(["u1"], k=3)[0].items  # data/tiny is not under elsewhere/
    (run / "results.json").unlink()
    status, _, err = command("run", "--resume", str(run))
    assert status == 0, err
    assert list(elsewhere.iterdir()) == []


def test_rows_to_a_closed_pipe_end_quietly(finished):
    """``recommend.py --all-users --out /dev/stdout | head -1``: the rows on stdout, exit 141, no traceback."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "experiments" / "recommend.py"), "--run", str(finished), "--all-users"]
        + ["--out", "/dev/stdout"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline() == "user_id,items,scores\n"
    process.stdout.close()
    err = process.stderr.read()
    assert process.wait(timeout=120) == 141 and "Traceback" not in err, err


# ----- the Python API -----


def test_the_api_refuses_mistyped_arguments_in_one_line(finished):
    from mdsrec_pyg import Recommender

    with pytest.raises(InputError, match="nlist: not an option of the exact index"):
        Recommender.load(finished, nlist=4)
    with pytest.raises(InputError, match="no CUDA GPU"):
        Recommender.load(finished, device="cuda")
    recommender = Recommender.load(finished)
    item = recommender.dataset.item_ids[1]
    assert recommender.recommend(h for h in [[item]])[0].items  # a generator is read, not taken as empty
    cases = [
        (lambda: recommender.recommend_users("u3"), "got the string 'u3'; expected a list of ids"),
        (lambda: recommender.recommend([[item]], k=2.5), "k: got 2.5; expected an integer >= 1"),
        (lambda: recommender.recommend([[item]], k=True), "k: got True"),
        (lambda: recommender.recommend("abc"), "got a string"),
        (lambda: recommender.recommend([[1, 2]]), "expected strings"),
    ]
    for call, message in cases:
        with pytest.raises(InputError, match=message):
            call()
    assert len(recommender.recommend([[item]], k=10**6)[0].items) == len(recommender.item_of) - 1


# ----- the registry and its renderer -----


def test_a_quick_look_never_replaces_the_committed_table(tmp_path):
    registry = tmp_path / "results"
    args = ["--dataset", "synthetic", "--models", "pop", "--registry", str(registry)]
    assert command("table2", *args, "--out", str(tmp_path / "a"))[0] == 0
    before = checksums(registry)
    refused(
        command("table2", *args, "--out", str(tmp_path / "b"), "--set", "max_len=7"),
        "max_len: 20 there, 7 here",
    )
    refused(
        command("table2", *args, "--seeds", "42", "1", "--out", str(tmp_path / "b")), "seeds [42] there, [42, 1] here"
    )
    refused(command("table2", *args, "--seeds", "42", "42"), "--seeds: 42 is given twice")
    refused(command("table2", *args, "--models", "pop", "pop"), "--models: pop is given twice")
    assert checksums(registry) == before
    status, out, _ = command("table2", *args, "--out", str(tmp_path / "b"), "--set", "max_len=7", "--table", "quick")
    assert status == 0 and f"recorded {registry / 'synthetic' / 'quick.json'}" in out


@pytest.mark.parametrize(
    "readme, message",
    [
        ("a\n<!-- registry: toy/t -->\nb\n", "README:2: the block opened here (toy/t) is never closed"),
        ("a\n<!-- /registry -->\n", "README:2: a closing registry marker with no block open"),
        (
            "<!-- registry: toy/t -->\n<!-- registry: toy/t -->\n<!-- /registry -->\n",
            "README:2: the block opened at line 1",
        ),
        ("<!-- registry toy/t -->\n", "README:1: not a registry marker"),
    ],
)
def test_the_renderer_refuses_unbalanced_or_unknown_markers(tmp_path, readme, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        regenerate(readme, tmp_path)


def test_readme_tables_leaves_the_readme_alone_on_a_bad_marker_or_registry_file(tmp_path):
    (tmp_path / "toy").mkdir()
    (tmp_path / "toy" / "t.json").write_text('{"kind": "table2", "rows": [')
    readme = tmp_path / "README.md"
    readme.write_text("prose\n<!-- registry: toy/t -->\nold\n<!-- /registry -->\nmore prose\n")
    before = checksums(tmp_path)
    refused(command("readme_tables", "--readme", str(readme), "--registry", str(tmp_path)), "t.json: not valid JSON")
    readme.write_text("prose\n<!-- registry: toy/t -->\nold\nmore prose\n")
    before = checksums(tmp_path)
    refused(command("readme_tables", "--readme", str(readme), "--registry", str(tmp_path)), "never closed")
    assert checksums(tmp_path) == before


# ----- config files -----


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("c.yaml", b"lr: 0.001\nlr: 0.01\n", "key 'lr' is given twice"),
        ("c.json", b'{"lr": 0.001, "lr": 0.01}', "key 'lr' is given twice"),
        ("c.yaml", b"lr: 0.001\ntraining:\n  lr: 0.01\n", "both set lr"),
        ("c.yaml", b"training: 5\n", "training is a section; expected a mapping"),
        ("c.yaml", b"a: &x [1, 2]\nb: [*x, *x]\n", "YAML aliases"),
        ("c.yaml", b"lr: \xff\xfe\n", "not UTF-8 text"),
    ],
)
def test_a_config_file_is_refused_in_one_line_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError, match=message) as caught:
        read_config_file(path)
    assert str(caught.value).startswith(str(path))


def test_a_bad_value_in_a_config_file_names_the_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("lr: fast\n")
    refused(command("run", "--config", str(path)), f"{path} lr: expected a value of type float, got 'fast'")


# ----- bounds -----


def test_threads_are_capped_at_the_cores():
    assert set_threads(100_000) == available_cores()


def test_a_large_value_in_a_message_is_shortened():
    text = shorten("x" * 10_000)
    assert len(text) < 120 and "10,002 characters" in text


def test_a_cooccurrence_graph_beyond_the_budget_is_refused_with_a_window_that_fits():
    lengths = np.array([1_400_000, 5, 7])
    assert estimated_bytes(np.array([4]), 0) == 4 * 8 + 6 * io_pairs_bytes()
    with pytest.raises(InputError, match=r"cooc_window: .* --set cooc_window=\d+"):
        check_size(lengths, 0)
    check_size(lengths, 20)  # fits


def io_pairs_bytes() -> int:
    from mdsrec_pyg.graphs.cooccurrence import BYTES_PER_PAIR

    return BYTES_PER_PAIR


def test_features_that_overflow_float32_arithmetic_are_refused():
    matrix = np.ones((3, 4), dtype=np.float32)
    check_finite(matrix, Path("f.npy"))
    matrix[2, 1] = 1e30
    with pytest.raises(InputError, match="f.npy: row 2 has a value of magnitude 1e\\+30"):
        check_finite(matrix, Path("f.npy"))


def test_sparsity_stays_in_range_when_sequences_repeat_items():
    from mdsrec_pyg.data.dataset import SequentialDataset

    repeats = SequentialDataset("r", [np.array([1, 1, 1, 1]), np.array([1, 2, 1])], ["[PAD]", "a", "b"], ["u", "v"])
    stats = repeats.statistics()
    assert stats["plain"]["sparsity"] == 1 - 3 / 4  # 3 distinct (user, item) cells of 2 x 2, not 7 interactions
    assert stats["paper"]["sparsity"] == 1 - 5 / 9  # 5 training targets over (2 + 1) x (2 + 1) cells
    crowded = SequentialDataset("c", [np.array([1] * 20)], ["[PAD]", "a"], ["u"])
    assert crowded.statistics()["paper"]["sparsity"] == 0.0  # 19 targets in 4 cells: clipped, not -3.75
