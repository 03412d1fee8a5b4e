"""The baselines of Table 2: each one learns, keeps causality, takes 1 or 2 modalities, and BERT4Rec's
cloze task never shows the model the item it must predict."""

from __future__ import annotations

import pytest
import torch
from conftest import built_model

from mdsrec_pyg.config import Config, build_config
from mdsrec_pyg.data import make_synthetic
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.evaluate import target_ranks, trim_left_padding
from mdsrec_pyg.models import MODELS, ItemTableRecommender
from mdsrec_pyg.models.bert4rec import cloze_mask

BASELINES = ["gru4rec", "sasrec", "bert4rec", "gru4recf", "sasrecf", "fdsa", "unisrec", "mmmlp", "missrec"]
MODAL = ["gru4recf", "sasrecf", "fdsa", "unisrec", "mmmlp", "missrec"]


@pytest.fixture(scope="module")
def synthetic():
    dataset = make_synthetic(seed=0)
    return dataset, dataset.split()


def small(name: str, dataset, split, **overrides):
    """A small ``name``: width 32, inner size 64, no dropout, and ``overrides``, where the model has them."""
    has = Config.for_model("synthetic", name).flat()
    narrow = {k: v for k, v in {"hidden_size": 32, "inner_size": 64, "dropout": 0.0}.items() if k in has}
    config = build_config("synthetic", {"model": name, **narrow, **overrides}, where_held=True)
    return config, built_model(config, dataset, split)


def batch(split, config, rows: int = 128) -> torch.Tensor:
    return torch.as_tensor(trim_left_padding(split.train_windows(config.data.max_len)[:rows]))


def test_every_baseline_is_registered():
    assert set(BASELINES) | {"pop", "mdsrec"} == set(MODELS)


@pytest.mark.parametrize("name", BASELINES)
def test_a_few_steps_lower_the_loss(name, synthetic):
    dataset, split = synthetic
    config, model = small(name, dataset, split)
    window = batch(split, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)

    def loss() -> torch.Tensor:
        torch.manual_seed(0)  # BERT4Rec: the same cloze masks before and after
        return model.loss(window[:, :-1], window[:, 1:])

    model.train()
    before = loss().item()
    for _ in range(15):
        optimizer.zero_grad()
        loss().backward()
        optimizer.step()
    after = loss().item()
    assert after < before - 0.3, (before, after)


@pytest.mark.parametrize("name", [n for n in BASELINES if issubclass(MODELS[n], ItemTableRecommender)])
def test_a_state_depends_on_its_own_and_earlier_items_only(name, synthetic):
    dataset, split = synthetic
    config, model = small(name, dataset, split)
    model.eval()
    inputs = batch(split, config, rows=16)[:, :-1]
    changed = inputs.clone()
    changed[:, -3:] = torch.randint(1, dataset.num_items, (len(inputs), 3))  # the three newest items
    with torch.no_grad():
        states, _ = model.encode(inputs, model.item_tables())
        states_changed, _ = model.encode(changed, model.item_tables())
    keep = inputs[:, :-3] != 0
    assert torch.allclose(states[:, :-3][keep], states_changed[:, :-3][keep], atol=1e-5)
    assert not torch.allclose(states[:, -1], states_changed[:, -1])


@pytest.mark.parametrize("name", BASELINES)
def test_left_padding_does_not_change_the_recommendation(name, synthetic):
    dataset, split = synthetic
    config, model = small(name, dataset, split)
    model.eval()
    inputs = torch.tensor([[0, 5, 9, 14], [3, 8, 2, 7]])
    padded = torch.cat([torch.zeros(2, 3, dtype=torch.long), inputs], dim=1)
    with torch.no_grad():
        plain = model.score(model.user_state(inputs), 0, dataset.num_items)
        more = model.score(model.user_state(padded), 0, dataset.num_items)
    assert torch.allclose(plain, more, atol=1e-4)


@pytest.mark.parametrize("name", MODAL)
@pytest.mark.parametrize("modalities", [["text"], ["image", "text"]])
def test_modal_baselines_take_one_or_two_modalities(name, modalities, synthetic):
    dataset, split = synthetic
    config, model = small(name, dataset, split, modalities=modalities)
    window = batch(split, config, rows=8)
    assert torch.isfinite(model.loss(window[:, :-1], window[:, 1:]))
    model.eval()
    with torch.no_grad():
        scores = model.score(model.user_state(window[:, :-1]), 0, dataset.num_items)
    assert scores.shape == (8, dataset.num_items)


@pytest.mark.parametrize("name", MODAL)
def test_modal_baselines_need_features(name, synthetic):
    dataset, split = synthetic
    with pytest.raises(InputError, match="needs item features"):
        small(name, dataset, split, modalities=["audio"])


def test_cloze_mask_hides_exactly_the_items_it_asks_for():
    seqs = torch.tensor([[0, 0, 4, 5, 6], [1, 2, 3, 4, 5], [0, 0, 0, 0, 9]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        inputs, labels = cloze_mask(seqs, 0.3, mask_token=100, generator=generator)
        masked = labels != 0
        assert torch.equal(inputs[masked], torch.full_like(inputs[masked], 100))  # a label is never visible
        assert torch.equal(labels[masked], seqs[masked])
        assert torch.equal(inputs[~masked], seqs[~masked])  # everything else is untouched
        assert not (masked & (seqs == 0)).any()  # padding is never a label
        assert masked.any(1).all()  # every row predicts something


def test_bert4rec_scores_a_mask_after_the_history_and_never_sees_the_target(synthetic):
    dataset, split = synthetic
    config, model = small("bert4rec", dataset, split)
    model.eval()
    history = torch.tensor([[0, 7, 3, 11], [2, 9, 4, 6]])
    seen = []
    model.item_embedding.register_forward_hook(lambda module, args, output: seen.append(args[0].clone()))
    with torch.no_grad():
        model.user_state(history)
    (encoded,) = seen
    assert torch.equal(encoded[:, :-1], history)  # the history as it is, the target is not in it
    assert (encoded[:, -1] == model.mask_token).all()
    assert model.score(model.user_state(history), 0, dataset.num_items).shape == (2, dataset.num_items)


@pytest.mark.parametrize("name", ["mdsrec", "unisrec", "missrec", "sasrec"])
def test_evaluation_computes_item_tables_once_with_the_same_ranks(name, synthetic, tmp_path):
    dataset, split = synthetic
    config, model = small(name, dataset, split, graph_dir=str(tmp_path), k=4)
    inputs, targets = split.eval_inputs("valid", config.data.max_len)
    original, computed = model.item_tables, []

    def counted():
        computed.append(1)
        return original()

    model.item_tables = counted
    cached = target_ranks(model, inputs, targets, 20, batch_size=64, num_items=dataset.num_items)
    assert len(inputs) > 64 * 3 and len(computed) == 1
    model.eval()
    fresh = []  # user_state without tables: every batch computes its own
    for begin in range(0, len(inputs), 64):
        x = torch.as_tensor(trim_left_padding(inputs[begin : begin + 64]))
        with torch.no_grad():
            scores = model.score(model.user_state(x), 0, dataset.num_items)
        scores[:, 0] = float("-inf")
        own = scores.gather(1, torch.as_tensor(targets[begin : begin + 64])[:, None])
        fresh.append((scores > own).sum(1) + 1)
    assert len(computed) > 4
    fresh = torch.cat(fresh).clamp(max=21).numpy()
    assert (cached == fresh).all()
