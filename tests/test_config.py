"""The configuration is checked whole before any data is read: every field has a rule, each bad value is one
line naming the key, the value and what is allowed (exit 2, nothing written), per-dataset defaults come by
the dataset's resolved name from the package alone, and wasteful H / k are clamped with a warning."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import fields

import pytest
from conftest import ROOT, built_model

from mdsrec_pyg.cli import command_line
from mdsrec_pyg.config import Config, build_config, field_rules
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.graphs.settings import GraphConfig
from mdsrec_pyg.models import MODELS


def load_run_script():
    spec = importlib.util.spec_from_file_location("run_script", ROOT / "experiments" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


RUN = load_run_script()

BAD_SETTINGS = [
    ("lr=0", "setting training.lr: got 0.0; expected a number in (0.0, 1.0]"),
    ("lr=-1", "setting training.lr: got -1.0"),
    ("lr=fast", "expected a value of type float, got 'fast'"),
    ("lr=nan", "setting training.lr: got nan"),
    ("epochs=0", "setting training.epochs: got 0; expected an integer >= 1"),
    ("epochs=1.5", "expected a value of type int, got '1.5'"),
    ("batch_size=0", "setting training.batch_size: got 0"),
    ("eval_batch_size=-5", "setting evaluation.eval_batch_size: got -5"),
    ("softmax_chunk=0", "setting training.softmax_chunk: got 0"),
    ("item_chunk=0", "setting evaluation.item_chunk: got 0"),
    ("topk=0", "setting evaluation.topk: got [0]; expected a non-empty list of distinct integers >= 1"),
    ("topk=", "setting evaluation.topk: got []"),
    ("topk=10,10", "setting evaluation.topk: got [10, 10]"),
    ("valid_metric=ndcg@50", "its K is not in topk"),
    ("valid_metric=auc@10", "setting evaluation.valid_metric: got 'auc@10'"),
    ("dropout=1", "setting mdsrec.dropout: got 1.0; expected a number in [0.0, 1.0)"),
    ("dropout=-0.1", "setting mdsrec.dropout: got -0.1"),
    ("num_heads=7", "expected a divisor of hidden_size"),
    ("num_heads=0", "setting mdsrec.num_heads: got 0"),
    ("max_len=0", "setting data.max_len: got 0"),
    ("seed=-1", "setting training.seed: got -1"),
    ("device=gpu", "setting training.device: got 'gpu'; expected cpu, cuda, cuda:N or mps"),
    ("negatives=0", "setting training.negatives: got 0"),
    ("H=-1", "setting graphs.H: got -1; expected an integer >= 0"),
    ("k=0", "setting graphs.k: got 0"),
    ("cooc_norm=foo", "setting graphs.cooc_norm: got 'foo'; expected one of"),
    ("graph_operator=median", "setting graphs.graph_operator: got 'median'"),
    ("knn_method=faiss", "setting graphs.knn_method: got 'faiss'; expected one of 'auto', 'exact', 'nndescent'"),
    ("adjacency_layout=coo", "setting graphs.adjacency_layout: got 'coo'"),
    ("softmax=softer", "setting training.softmax: got 'softer'; expected one of 'full', 'chunked', 'sampled'"),
    ("centre_norm=max", "setting mdsrec.centre_norm: got 'max'"),
    ("ica=maybe", "--set ica: expected a value of type bool, got 'maybe'"),
    ("dis=2", "--set dis: expected a value of type bool, got '2'"),
    ("tau=0", "setting mdsrec.tau: got 0.0"),
    ("modal_positions=0", "setting mdsrec.modal_positions: got 0.0; expected a number in (0.0, 1.0]"),
    ("modal_positions=1.5", "setting mdsrec.modal_positions: got 1.5"),
    ("mask_prob=0.3", "--set: mask_prob: an option of model bert4rec, not of this run's model mdsrec"),
    ("sasrec.dropout=0.1", "--set: sasrec.dropout: an option of model sasrec, and this run's model is mdsrec"),
    ("training.H=3", "--set: unknown config key 'training.H'"),
    ("mdsrec.lr=0.1", "--set: unknown config key 'mdsrec.lr'"),
    ("model.tau=0", "setting mdsrec.tau: got 0.0"),
    ("graphs.k=0", "setting graphs.k: got 0"),
    ("rho=-1,2", "setting mdsrec.rho: got [-1.0, 2.0]"),
    ("mask_history=maybe", "expected a value of type bool, got 'maybe'"),
    ("threads=-1", "setting training.threads: got -1"),
    ("hidden_size=0", "setting mdsrec.hidden_size: got 0"),
    ("patience=0", "setting training.patience: got 0"),
    ("weight_decay=-1", "setting training.weight_decay: got -1.0"),
    ("mu_id=-1", "setting graphs.mu_id: got -1.0"),
    ("experts=0", "--set: experts: an option of model unisrec, not of this run's model mdsrec"),
    ("dataset=clothing", "--set: dataset is chosen with --dataset, not --set"),
    ("model=sasrec", "--set: model is chosen with --model, not --set"),
    ("nosuchkey=1", "unknown config key 'nosuchkey'"),
    ("lr", "--set: expected key=value, got 'lr'"),
    ("cold_items=1", "setting data.cold_items: got 1.0; expected a number in [0.0, 1.0)"),
    ("cold_items=-0.1", "setting data.cold_items: got -0.1"),
    ("cold_id_embedding=mean", "setting data.cold_id_embedding: got 'mean'; expected one of 'zero', 'neighbours'"),
]


# settings of one model, given with its --model: (model, setting, the line)
BAD_MODEL_SETTINGS = [
    ("bert4rec", "mask_prob=1", "setting bert4rec.mask_prob: got 1.0"),
    ("unisrec", "experts=0", "setting unisrec.experts: got 0"),
    ("missrec", "interests=0", "setting missrec.interests: got 0"),
    ("gru4rec", "gru_layers=0", "setting gru4rec.gru_layers: got 0"),
    ("gru4rec", "num_heads=2", "--set: num_heads: an option of model"),
    ("sasrec", "H=5", "--set: H: a setting of the relation graphs (graphs.H), which model sasrec does not build"),
    ("sasrec", "graphs.k=5", "--set: graphs.k: model sasrec builds no relation graphs"),
    ("sasrec", "tau=0.5", "--set: tau: an option of model mdsrec, not of this run's model sasrec"),
    ("pop", "dropout=0.1", "--set: dropout: an option of model"),
    ("sasrec", "sasrec.num_heads=7", "setting sasrec.num_heads: got 7; expected a divisor of hidden_size 64"),
    ("sasrec", "cold_items=0.1", "setting data.cold_items: model sasrec scores no item it did not train on"),
    ("sasrecf", "cold_items=0.1 cold_id_embedding=neighbours", "model sasrecf gives a new item zero"),
]


def test_every_setting_has_a_rule_and_one_bare_key():
    for model in MODELS:
        config = Config.for_model("synthetic", model)
        rules = field_rules(config)
        keys = [f"{name}.{f.name}" for name, section in config.sections().items() for f in fields(section)]
        assert sorted(rules) == sorted(keys)
        bare = [key.split(".", 1)[1] for key in keys]
        assert len(bare) == len(set(bare)), model  # a bare key names one place
        assert set(config.flat()) == set(bare) | {"dataset", "model"}
        build_config("synthetic", {"model": model})  # the defaults pass
    assert Config.for_model("synthetic", "sasrec").graphs is None  # no MDSRec knobs for a baseline
    assert "tau" not in Config.for_model("synthetic", "sasrec").flat()


def test_a_setting_is_named_by_section_model_or_bare_key():
    config = build_config(
        "synthetic",
        {"model": "mdsrec"},
        ["training.lr=0.003", "mdsrec.tau=0.5", "model.ica=false", "H=7", "graphs.dis=false"],
    )
    assert (config.training.lr, config.options.tau, config.options.ica, config.graphs.H, config.graphs.dis) == (
        0.003,
        0.5,
        False,
        7,
        False,
    )
    assert config.get("graphs.H") == config.get("H") == 7
    saved = config.to_dict()
    assert set(saved) == {"dataset", "model", "data", "training", "evaluation", "graphs", "mdsrec"}
    assert Config.from_dict(saved) == config  # the saved form reads back as it was


def test_two_ablation_switches_combine():
    config = build_config("synthetic", sets=["dis=false", "ica=false"])
    assert (config.graphs.dis, config.graphs.cre, config.options.mrgc, config.options.ica) == (False, True, True, False)


LEGACY = {  # a config.json as written before the sections (flat, every model's knobs, one ablation name)
    "dataset": "synthetic",
    "model": "mdsrec",
    "data_dir": "data",
    "feature_dir": "data/features",
    "seed": 1,
    "device": "cuda",
    "threads": 1,
    "max_len": 20,
    "hidden_size": 64,
    "num_layers": 2,
    "num_heads": 4,
    "inner_size": 128,
    "dropout": 0.2,
    "lr": 0.0003,
    "weight_decay": 0.0,
    "batch_size": 512,
    "epochs": 50,
    "patience": 5,
    "valid_metric": "ndcg@20",
    "softmax": "full",
    "softmax_chunk": 8192,
    "negatives": 1000,
    "topk": [10, 20],
    "mask_history": False,
    "eval_batch_size": 1024,
    "item_chunk": 65536,
    "modalities": [],
    "ablation": "no_cre",
    "mu_id": 16.0,
    "mu_m": 0.2,
    "cooc_norm": "lightgcn",
    "cooc_window": 0,
    "H": 10,
    "graph_operator": "mean",
    "knn_method": "auto",
    "adjacency_layout": "auto",
    "graph_dir": "graphs",
    "k": 16,
    "centre_norm": "mean",
    "tau": 1.0,
    "rho": [],
    "share_modal_encoder": False,
    "modal_positions": 1.0,
    "gru_layers": 1,
    "mask_prob": 0.2,
    "experts": 8,
    "unisrec_inductive": False,
    "interests": 4,
}


def test_a_config_saved_before_the_sections_is_the_same_run():
    from mdsrec_pyg.runs import same_config

    config = build_config("synthetic", {"seed": 1, "lr": 3e-4, "dropout": 0.2}, ["cre=false"])
    assert same_config(LEGACY, config)  # device and threads are runtime keys
    assert not same_config(LEGACY, build_config("synthetic", {"seed": 1, "lr": 3e-4, "dropout": 0.2}))
    assert not same_config({**LEGACY, "H": 5}, config)
    sasrec = build_config("synthetic", {"model": "sasrec", "seed": 1, "lr": 3e-4, "dropout": 0.2})
    assert same_config({**LEGACY, "model": "sasrec", "ablation": ""}, sasrec)  # MDSRec's knobs dropped
    assert not same_config({**LEGACY, "model": "sasrec", "ablation": "", "hidden_size": 32}, sasrec)
    assert same_config(config.to_dict(), config) and not same_config(sasrec.to_dict(), config)


@pytest.mark.parametrize(
    "model, setting, message",
    [("mdsrec", *bad) for bad in BAD_SETTINGS] + BAD_MODEL_SETTINGS,
    ids=[s for s, _ in BAD_SETTINGS] + [f"{m}:{s}" for m, s, _ in BAD_MODEL_SETTINGS],
)
def test_a_bad_setting_is_one_line_exit_2_and_writes_nothing(model, setting, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as ended:
        sets = [part for kv in setting.split(" ") for part in ("--set", kv)]  # one setting, or several
        command_line(lambda: RUN.main(["--model", model, *sets, "--out", str(tmp_path / "run")]))
    err = capsys.readouterr().err
    assert ended.value.code == 2 and message in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # nothing written: no run folder, no graphs, no data


def test_graph_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(Exception, match="setting data.graph_dir: got .*file'; expected a folder"):
        build_config("synthetic", sets=[f"graph_dir={tmp_path / 'file'}"])


def test_dataset_defaults_come_by_the_resolved_name_from_the_package_only(tmp_path):
    folder = tmp_path / "clothing"
    folder.mkdir()
    (tmp_path / "clothing.json").write_text('{"H": 99, "k": 99}')  # beside the folder: never read
    config = build_config(str(folder))
    assert (config.graphs.H, config.graphs.k) == (15, 64)  # the paper's clothing settings
    assert (build_config(str(folder) + "/").graphs.H, build_config("my_own_set").graphs.H) == (15, GraphConfig().H)
    assert build_config(str(folder), {"model": "sasrec"}).graphs is None  # no graph settings for a baseline


def test_h_and_k_larger_than_the_catalog_are_clamped_with_a_warning(tmp_path, caplog):
    dataset = make_synthetic(seed=1, num_users=60, num_items=20, clusters=4, dim=8)
    config = build_config(
        "synthetic",
        {
            "model": "mdsrec",
            "graph_dir": str(tmp_path),
            "hidden_size": 16,
            "inner_size": 16,
            "max_len": 8,
            "H": 500,
            "k": 500,
        },
    )
    with caplog.at_level(logging.WARNING):
        model = built_model(config, dataset, dataset.split())
    assert "H=500 is more than this catalog of 20 items allows; using 19" in caplog.text
    assert "k=500 is more than this catalog of 20 items allows; using 20" in caplog.text
    assert model.k == 20
