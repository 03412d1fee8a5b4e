"""The configuration is checked whole before any data is read: every field has a rule, each bad value is one
line naming the key, the value and what is allowed (exit 2, nothing written), per-dataset defaults come by
the dataset's resolved name from the package alone, and wasteful H / k are clamped with a warning."""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import fields

import pytest
from conftest import ROOT

from mdsrec_pyg.cli import command_line
from mdsrec_pyg.config import Config, build_config, field_rules
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.models import build_model


def load_run_script():
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "experiments" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = load_run_script()

BAD_SETTINGS = [
    ("lr=0", "setting lr: got 0.0; expected a number in (0.0, 1.0]"),
    ("lr=-1", "setting lr: got -1.0"),
    ("lr=fast", "expected a value of type float, got 'fast'"),
    ("lr=nan", "setting lr: got nan"),
    ("epochs=0", "setting epochs: got 0; expected an integer >= 1"),
    ("epochs=1.5", "expected a value of type int, got '1.5'"),
    ("batch_size=0", "setting batch_size: got 0"),
    ("eval_batch_size=-5", "setting eval_batch_size: got -5"),
    ("softmax_chunk=0", "setting softmax_chunk: got 0"),
    ("item_chunk=0", "setting item_chunk: got 0"),
    ("topk=0", "setting topk: got [0]; expected a non-empty list of distinct integers >= 1"),
    ("topk=", "setting topk: got []"),
    ("topk=10,10", "setting topk: got [10, 10]"),
    ("valid_metric=ndcg@50", "its K is not in topk"),
    ("valid_metric=auc@10", "setting valid_metric: got 'auc@10'"),
    ("dropout=1", "setting dropout: got 1.0; expected a number in [0.0, 1.0)"),
    ("dropout=-0.1", "setting dropout: got -0.1"),
    ("num_heads=7", "expected a divisor of hidden_size"),
    ("num_heads=0", "setting num_heads: got 0"),
    ("max_len=0", "setting max_len: got 0"),
    ("seed=-1", "setting seed: got -1"),
    ("device=gpu", "setting device: got 'gpu'; expected cpu, cuda, cuda:N or mps"),
    ("negatives=0", "setting negatives: got 0"),
    ("H=-1", "setting H: got -1; expected an integer >= 0"),
    ("k=0", "setting k: got 0"),
    ("cooc_norm=foo", "setting cooc_norm: got 'foo'; expected one of"),
    ("graph_operator=median", "setting graph_operator: got 'median'"),
    ("knn_method=faiss", "setting knn_method: got 'faiss'; expected one of 'auto', 'exact', 'nndescent'"),
    ("adjacency_layout=coo", "setting adjacency_layout: got 'coo'"),
    ("softmax=softer", "setting softmax: got 'softer'; expected one of 'full', 'chunked', 'sampled'"),
    ("centre_norm=max", "setting centre_norm: got 'max'"),
    ("ablation=no_everything", "setting ablation: got 'no_everything'"),
    ("tau=0", "setting tau: got 0.0"),
    ("modal_positions=0", "setting modal_positions: got 0.0; expected a number in (0.0, 1.0]"),
    ("modal_positions=1.5", "setting modal_positions: got 1.5"),
    ("mask_prob=1", "setting mask_prob: got 1.0"),
    ("rho=-1,2", "setting rho: got [-1.0, 2.0]"),
    ("mask_history=maybe", "expected a value of type bool, got 'maybe'"),
    ("threads=-1", "setting threads: got -1"),
    ("hidden_size=0", "setting hidden_size: got 0"),
    ("patience=0", "setting patience: got 0"),
    ("weight_decay=-1", "setting weight_decay: got -1.0"),
    ("mu_id=-1", "setting mu_id: got -1.0"),
    ("experts=0", "setting experts: got 0"),
    ("interests=0", "setting interests: got 0"),
    ("gru_layers=0", "setting gru_layers: got 0"),
    ("dataset=clothing", "--set: dataset is chosen with --dataset, not --set"),
    ("model=sasrec", "--set: model is chosen with --model, not --set"),
    ("nosuchkey=1", "unknown config key 'nosuchkey'"),
    ("lr", "--set: expected key=value, got 'lr'"),
]


def test_every_field_has_a_rule():
    assert set(field_rules()) == {f.name for f in fields(Config)}
    build_config("synthetic")  # the defaults pass


@pytest.mark.parametrize("setting, message", BAD_SETTINGS, ids=[s for s, _ in BAD_SETTINGS])
def test_a_bad_setting_is_one_line_exit_2_and_writes_nothing(setting, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as ended:
        command_line(lambda: RUN.main(["--set", setting, "--out", str(tmp_path / "run")]))
    err = capsys.readouterr().err
    assert ended.value.code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written: no run folder, no graphs, no data


def test_graph_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="setting graph_dir: got .*file'; expected a folder"):
        build_config("synthetic", sets=[f"graph_dir={tmp_path / 'file'}"])


def test_dataset_defaults_come_by_the_resolved_name_from_the_package_only(tmp_path):
    folder = tmp_path / "clothing"
    folder.mkdir()
    (tmp_path / "clothing.json").write_text('{"H": 99, "k": 99}')  # beside the folder: never read
    config = build_config(str(folder))
    assert (config.H, config.k) == (15, 64)  # the paper's clothing settings
    assert (build_config(str(folder) + "/").H, build_config("my_own_set").H) == (15, Config().H)


def test_h_and_k_larger_than_the_catalog_are_clamped_with_a_warning(tmp_path, caplog):
    dataset = make_synthetic(seed=1, num_users=60, num_items=20, clusters=4, dim=8)
    config = build_config("synthetic", {"model": "mdsrec", "graph_dir": str(tmp_path), "hidden_size": 16,
                                        "inner_size": 16, "max_len": 8, "H": 500, "k": 500})
    with caplog.at_level(logging.WARNING):
        model = build_model(config, dataset, dataset.split())
    assert "H=500 is more than this catalog of 20 items allows; using 19" in caplog.text
    assert "k=500 is more than this catalog of 20 items allows; using 20" in caplog.text
    assert model.k == 20
