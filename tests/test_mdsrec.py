"""MDSRec: causality of the centralized attention, the ablations, any number of modalities, and that it
finds the planted modal structure of the synthetic set which ID-only SASRec has to learn from scratch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import built_model

from mdsrec_pyg.config import TABLE3_VARIANTS, build_config
from mdsrec_pyg.data import build_dataset, make_synthetic
from mdsrec_pyg.errors import InputError
from mdsrec_pyg.losses import sampled_softmax_loss
from mdsrec_pyg.nn.centralized import (
    centre_features,
    draw_members,
    members_by_centre,
    prefix_mask,
    sampled_centre_features,
)
from mdsrec_pyg.train import Trainer

TINY = {"hidden_size": 16, "inner_size": 32, "num_heads": 2, "k": 4, "H": 3, "max_len": 8}


def tiny(tmp_path, dataset=None, **overrides):
    dataset = dataset or make_synthetic(seed=1, num_users=120, num_items=60, clusters=6, dim=8)
    config = build_config("synthetic", {"model": "mdsrec", "graph_dir": str(tmp_path), **TINY, **overrides})
    split = dataset.split()
    return built_model(config, dataset, split), dataset, split, config


def test_centres_never_see_future_positions(tmp_path):
    model, dataset, _, _ = tiny(tmp_path)
    model.eval()
    seqs = torch.tensor([[0, 0, 5, 9, 13, 21, 30, 41]])
    perturbed = seqs.clone()
    perturbed[0, 5:] = torch.tensor([2, 3, 4])  # change every item after position 4
    rows, positions = torch.zeros(5, dtype=torch.long), torch.arange(5)
    one, sixth = torch.zeros(1, dtype=torch.long), torch.tensor([6])
    with torch.no_grad():
        tables = model.item_tables()
        before = model.streams(seqs, rows, positions, tables)
        after = model.streams(perturbed, rows, positions, tables)
        changed = model.streams(perturbed, one, sixth, tables)
        original = model.streams(seqs, one, sixth, tables)
    for m in model.modalities:
        assert torch.allclose(before[1][m], after[1][m], atol=1e-6)
        assert not torch.allclose(changed[1][m], original[1][m])  # position 6 does see the change
    assert torch.allclose(before[0], after[0], atol=1e-6)


def test_prefix_mask_by_hand():
    seqs = torch.tensor([[0, 7, 8, 9]])
    mask = prefix_mask(seqs, torch.arange(4))
    assert mask.int().tolist() == [[[1, 0, 0, 0], [0, 1, 0, 0], [0, 1, 1, 0], [0, 1, 1, 1]]]
    assert prefix_mask(seqs, torch.tensor([2])).int().tolist() == [[[0, 1, 1, 0]]]


def test_centre_features_average_members():
    items = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    assignment = torch.tensor([0, 0, 1])  # items 1, 2 -> centre 0; item 3 -> centre 1
    assert centre_features(items, assignment, 2).flatten().tolist() == [2.0, 10.0]
    assert centre_features(items, assignment, 2, "sum").flatten().tolist() == [4.0, 10.0]


def test_drawn_members_are_members_and_estimate_the_centres():
    assignment = torch.tensor([1, 0, 1, 1])  # items 1..4: item 2 -> centre 0; items 1, 3, 4 -> centre 1; 2: none
    members, starts = members_by_centre(assignment, 3)
    assert members.tolist() == [2, 1, 3, 4] and starts.tolist() == [0, 1, 4, 4]
    torch.manual_seed(0)
    drawn = draw_members(members, starts, 3000)
    assert set(drawn[0].tolist()) == {2} and set(drawn[1].tolist()) == {1, 3, 4} and set(drawn[2].tolist()) == {0}
    items = torch.tensor([[0.0], [1.0], [5.0], [3.0], [8.0]])
    counts = starts[1:] - starts[:-1]
    estimate = sampled_centre_features(items[drawn], counts).flatten()
    exact = centre_features(items, assignment, 3).flatten()  # [5, 4, 0]
    assert torch.allclose(estimate, exact, atol=0.15) and estimate[2] == 0
    summed = sampled_centre_features(items[drawn], counts, "sum").flatten()
    assert torch.allclose(summed, centre_features(items, assignment, 3, "sum").flatten(), atol=0.45)


@pytest.mark.parametrize("switches", [{}, {"mrgc": False}, {"ica": False}])
def test_the_row_wise_sampled_step_is_the_whole_tables_loss_and_gradient(tmp_path, switches):
    model, _, split, _ = tiny(tmp_path, softmax="sampled", negatives=20, **switches)
    model.train()
    window = torch.as_tensor(split.train_windows(TINY["max_len"])[:32])
    inputs, targets = window[:, :-1], window[:, 1:]
    params = [p for p in model.parameters() if p.requires_grad]
    torch.manual_seed(3)
    rowwise = model.loss(inputs, targets)
    # reference: the whole item tables, the same negatives (drawn first, a channel at a time) and dropout
    torch.manual_seed(3)
    negatives = {channel: model.softmax.draw() for channel in ["id", *model.modalities]}
    tables = model.item_tables()
    rows, positions = (inputs != 0).nonzero(as_tuple=True)
    fused, modal = model.streams(inputs, rows, positions, tables)
    y, log_q = targets[rows, positions], model.softmax.log_q
    whole = sampled_softmax_loss(fused, tables.items, y, log_q, negatives["id"])
    for m in model.modalities:
        whole = whole + model.rho[m] * sampled_softmax_loss(modal[m], tables.modal[m], y, log_q, negatives[m])
    assert torch.allclose(rowwise, whole, rtol=1e-6)
    for got, expected in zip(torch.autograd.grad(rowwise, params), torch.autograd.grad(whole, params)):
        assert torch.allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"centre_sample": 4}, "mdsrec.centre_sample: got 4; it serves the row-wise step of the sampled softmax"),
        ({"centre_sample": 4, "softmax": "sampled", "ica": False}, "it samples ICA's centres, and ica=false"),
        ({"centre_sample": -1}, "mdsrec.centre_sample: got -1"),
    ],
)
def test_centre_sample_is_refused_where_it_means_nothing(settings, message):
    with pytest.raises(InputError, match=message):
        build_config("synthetic", {"model": "mdsrec", **settings})


def test_evaluation_is_deterministic_and_training_is_noisy(tmp_path):
    model, _, split, config = tiny(tmp_path)
    inputs = torch.as_tensor(split.eval_inputs("valid", config.data.max_len)[0][:16])
    model.eval()
    assert torch.equal(model.score(model.user_state(inputs), 0, 61), model.score(model.user_state(inputs), 0, 61))


def test_the_score_is_eq_22_over_the_channels(tmp_path):
    model, _, split, config = tiny(tmp_path)
    inputs = torch.as_tensor(split.eval_inputs("test", config.data.max_len)[0][:16])
    model.eval()
    with torch.no_grad():
        state = model.user_state(inputs)
        channels = model.channel_scores(state, 5, 40)
        expected = channels["id"] + sum(model.rho[m] * channels[m] for m in model.modalities)  # y^s + Σ ρ_m y^m
        assert torch.allclose(model.score(state, 5, 40), expected, atol=1e-5)


ABLATIONS = {
    **{name: settings for name, (_, settings) in TABLE3_VARIANTS.items()},
    "no_dis+no_ica": {"dis": False, "ica": False},
    "no_cre+no_mrgc": {"cre": False, "mrgc": False},
}


@pytest.mark.parametrize("switches", ABLATIONS.values(), ids=ABLATIONS.keys())
def test_each_ablation_and_a_combination_trains_and_lowers_its_loss(tmp_path, switches):
    model, _, split, config = tiny(tmp_path, **switches, dropout=0.0)
    windows = torch.as_tensor(split.train_windows(config.data.max_len))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model.loss(windows[:, :-1], windows[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3
    assert hasattr(model, "centralized") == switches.get("ica", True)
    assert hasattr(model, "modal_graphs") == switches.get("mrgc", True)


def test_one_or_three_modalities(tmp_path):
    base = make_synthetic(seed=1, num_users=120, num_items=60, clusters=6, dim=8)
    text_only = build_dataset(
        "t", base.sequences, base.item_ids, base.user_ids, {"text": base.features["text"].numpy()}
    )
    model, *_ = tiny(tmp_path, dataset=text_only)
    assert model.modalities == ["text"] and model.rho == {"text": 1.0}
    three = dict(base.features, audio=np.random.default_rng(0).normal(size=(61, 5)).astype(np.float32))
    arrays = {m: f if isinstance(f, np.ndarray) else f.numpy() for m, f in three.items()}
    model, _, split, config = tiny(
        tmp_path, dataset=build_dataset("three", base.sequences, base.item_ids, base.user_ids, arrays)
    )
    assert sorted(model.modalities) == ["audio", "image", "text"]
    windows = torch.as_tensor(split.train_windows(config.data.max_len))
    assert torch.isfinite(model.loss(windows[:, :-1], windows[:, 1:]))


def test_needs_features_and_valid_options(tmp_path):
    base = make_synthetic(seed=1, num_users=50, num_items=30, clusters=3, dim=4)
    plain = build_dataset("plain", base.sequences, base.item_ids, base.user_ids)
    with pytest.raises(InputError, match="needs item features"):
        tiny(tmp_path, dataset=plain)
    with pytest.raises(InputError, match="expected one of"):
        tiny(tmp_path, centre_norm="max")
    with pytest.raises(InputError, match="expected 2 weights"):
        tiny(tmp_path, rho=[1.0])


def test_graphs_use_training_interactions_only(tmp_path):
    # items 4 and 5 only ever meet as a user's validation and test items: no co-occurrence edge between them
    seqs = [np.array([1, 2, 3, 4, 5]), np.array([2, 1, 3, 1, 2])]
    dataset = build_dataset(
        "leak", seqs, ["[PAD]", "a", "b", "c", "d", "e"], ["u", "v"], {"text": np.eye(6, dtype=np.float32)}
    )
    model, *_ = tiny(tmp_path, dataset=dataset, H=1, k=2)
    edges = model.cooccurrence.edge_index
    assert not ((edges == 4) | (edges == 5)).any()


def test_short_training_beats_sasrec_on_synthetic(tmp_path):
    dataset = make_synthetic(seed=0)
    split = dataset.split()
    results = {}
    for name in ("sasrec", "mdsrec"):
        config = build_config("synthetic", {"model": name, "epochs": 8, "graph_dir": str(tmp_path)})
        results[name] = Trainer(built_model(config, dataset, split), split, config, dataset.num_items).fit()["test"]
    assert results["mdsrec"]["ndcg@20"] > 1.5 * results["sasrec"]["ndcg@20"], results
    assert results["mdsrec"]["recall@20"] > results["sasrec"]["recall@20"] + 0.05, results


def test_kmeans_centres_depend_on_item_features_only(tmp_path):
    base = make_synthetic(seed=1, num_users=120, num_items=60, clusters=6, dim=8)
    shuffled = [np.random.default_rng(u).permutation(s) for u, s in enumerate(base.sequences)]
    other = build_dataset(
        "other", shuffled, base.item_ids, base.user_ids, {m: f.numpy() for m, f in base.features.items()}
    )
    first, *_ = tiny(tmp_path / "a")
    second, *_ = tiny(tmp_path / "b", dataset=other)
    for m in first.modalities:
        assert torch.equal(first.assignments[m], second.assignments[m])


def test_weights_saved_with_the_old_per_modality_buffer_names_still_load(tmp_path):
    model, *_ = tiny(tmp_path)
    state = model.state_dict()
    old = {(f"assignment_{k.split('.', 1)[1]}" if k.startswith("assignments.") else k): v for k, v in state.items()}
    assert "assignment_text" in old and "assignments.text" not in old  # as best.pt was written before
    again, *_ = tiny(tmp_path)
    again.load_state_dict(old)  # strict: every key matched
    assert all(torch.equal(again.state_dict()[k], v) for k, v in state.items())


def tile_case():
    """Six sequences of 9 (one padded), two layers of 4 heads over 16-d states, 5 centres: ICA's inputs for
    the tests of its tiles (a (sequence, position) cell holds 5 x (16 + 4 x 9) = 260 elements: a budget of
    ``260 * 18`` makes tiles of two sequences, one of ``260 * 4`` tiles of four positions of one sequence)."""
    from mdsrec_pyg.nn.centralized import CentralizedAttention
    from mdsrec_pyg.nn.transformer import MultiHeadAttention

    torch.manual_seed(0)
    seqs = torch.randint(1, 50, (6, 9))
    seqs[0, :4] = 0
    rows, positions = (seqs != 0).nonzero(as_tuple=True)
    attentions = [MultiHeadAttention(16, 4, 0.0) for _ in range(2)]
    layer_inputs = [torch.randn(6, 9, 16, requires_grad=True) for _ in range(2)]
    centres = torch.randn(5, 16, requires_grad=True)
    return CentralizedAttention(16, 32, 2), centres, layer_inputs, attentions, seqs, rows, positions


def test_query_tiles_cover_every_query_once_within_the_budget():
    from mdsrec_pyg.nn.centralized import query_tiles

    _, _, _, _, seqs, rows, positions = tile_case()  # sequence 0 has queries at positions 4..8 only
    shapes = {  # cells -> (sequences, positions) of each tile
        18: [(2, 9)] * 3,  # two sequences a tile over the positions they hold
        4: [(1, 4), (1, 1)] + [(1, 4), (1, 4), (1, 1)] * 5,  # one sequence, four positions a tile
        60: [(6, 9)],  # all in one
    }
    for cells, expected in shapes.items():
        tiles = list(query_tiles(rows, positions, cells))
        assert [(rows[inside].unique().numel(), len(part)) for inside, part, _ in tiles] == expected
        seen = torch.cat([inside for inside, _, _ in tiles])
        assert sorted(seen.tolist()) == list(range(len(rows)))  # each query in one tile
        for inside, part, slot in tiles:
            assert torch.equal(part[slot], positions[inside])  # the slot names the query's position


def test_centralized_attention_in_checkpointed_tiles_is_the_same(monkeypatch):
    from mdsrec_pyg.nn import centralized

    module, centres, layer_inputs, attentions, seqs, rows, positions = tile_case()
    results = []
    for budget in (2**22, 260 * 18, 260 * 4):  # one tile; tiles of two sequences; of four positions, recomputed
        monkeypatch.setattr(centralized, "CPU_TILE_ELEMENTS", budget)
        out, order = module(centres, layer_inputs, attentions, seqs, rows, positions)
        out = out[torch.argsort(order)]  # the queries' order
        results.append((out, torch.autograd.grad(out.square().sum(), [centres, *layer_inputs])))
    (one, one_grads), *tiled = results
    for out, grads in tiled:
        assert torch.allclose(one, out)
        for a, b in zip(one_grads, grads):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def test_centralized_attention_reduces_tile_by_tile_and_recomputes_with_the_same_draws(monkeypatch):
    """With ``reduce`` each tile's states go through it inside the tile. Where training recomputes the
    tiles in the backward pass, the random numbers drawn in them (Eq. 19's noise) are drawn again the same:
    value and gradients equal those of the same tiles computed once (no recomputation) from the same seed."""
    from mdsrec_pyg.nn import centralized

    module, centres, layer_inputs, attentions, seqs, rows, positions = tile_case()
    e_m = torch.randn(len(rows), 16, requires_grad=True)
    monkeypatch.setattr(centralized, "CPU_TILE_ELEMENTS", 260 * 4)  # tiles of four query positions

    def mix(states, queries):  # Eq. 18-19, the noise drawn in the tile
        return centralized.centre_mix(e_m[queries], states, torch.randn(states.shape[:2]), 0.5)

    results = []
    for recomputed in (True, False):  # training recomputes the tiles; evaluation mode computes them once
        module.train(recomputed)
        torch.manual_seed(3)
        out, order = module(centres, layer_inputs, attentions, seqs, rows, positions, mix)
        out = out[torch.argsort(order)]
        assert out.shape == e_m.shape
        results.append((out, torch.autograd.grad(out.square().sum(), [centres, e_m, *layer_inputs])))
    (once, once_grads), (again, again_grads) = results
    assert torch.allclose(once, again)
    for a, b in zip(once_grads, again_grads):
        assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)


def reference_centres(centres, layer_inputs, attentions, maps, seqs, b, t, kept=None, rate=0.0):
    """Eq. 12-16 for sequence b at query position t, literally: the centres attend over b's keys at positions
    <= t (not padding) with each stream layer's own Q, K, V and U (Eq. 12-14), then Eq. 15; ``kept``
    (layers, heads, L, k) the attention weights dropout keeps (each scaled by 1 / (1 - rate))."""
    import torch.nn.functional as F

    allowed = (torch.arange(seqs.size(1)) <= t) & (seqs[b] != 0)
    state = centres
    for layer, (attention, ffn, layer_input) in enumerate(zip(attentions, maps, layer_inputs)):
        heads, width = attention.num_heads, layer_input.size(-1)
        q = attention.split_heads(attention.query(state))  # (heads, k, d / heads)
        key = attention.split_heads(attention.key(layer_input[b]))  # (heads, L, d / heads)
        value = attention.split_heads(attention.value(layer_input[b]))
        scores = (q @ key.mT / (width / heads) ** 0.5).masked_fill(~allowed, float("-inf"))
        weights = scores.softmax(-1)  # (heads, k, L)
        if kept is not None:
            weights = weights * kept[layer].transpose(1, 2) / (1 - rate)
        read = attention.output((weights @ value).transpose(0, 1).flatten(1))  # Eq. 12-14
        state = F.gelu(ffn(read))  # Eq. 15
    return state


@pytest.mark.parametrize("padded", [True, False])  # False: every grid cell is a query
@pytest.mark.parametrize("heads", [2, 4])  # 2: query map folded into the keys; 4: queries projected
def test_centralized_attention_is_eq_12_to_16_one_query_at_a_time(heads, padded):
    """Values and gradients against :func:`reference_centres`, query by query."""
    from mdsrec_pyg.nn.centralized import CentralizedAttention
    from mdsrec_pyg.nn.transformer import MultiHeadAttention

    torch.manual_seed(0)
    batch, length, width, k = 3, 8, 16, 5
    seqs = torch.randint(1, 50, (batch, length))
    if padded:
        seqs[0, :3] = 0
    rows, positions = (seqs != 0).nonzero(as_tuple=True)
    attentions = [MultiHeadAttention(width, heads, 0.0).double() for _ in range(2)]
    layer_inputs = [torch.randn(batch, length, width, dtype=torch.double, requires_grad=True) for _ in range(2)]
    centres = torch.randn(k, width, dtype=torch.double, requires_grad=True)
    module = CentralizedAttention(width, 32, 2).double()
    got, order = module(centres, layer_inputs, attentions, seqs, rows, positions)
    got = got[torch.argsort(order)]
    with torch.no_grad():
        shuffled = torch.randperm(len(rows))  # queries in any order get their own states
        again, again_order = module(centres, layer_inputs, attentions, seqs, rows[shuffled], positions[shuffled])
        assert torch.allclose(again[torch.argsort(again_order)], got[shuffled], atol=1e-10)
    expected = torch.stack(
        [
            reference_centres(centres, layer_inputs, attentions, module.maps, seqs, b, t)
            for b, t in zip(rows.tolist(), positions.tolist())
        ]
    )
    assert torch.allclose(got, expected, atol=1e-10)
    grad = torch.randn_like(got)
    leaves = [centres, *layer_inputs, *module.parameters(), *(p for a in attentions for p in a.parameters())]
    for a, b in zip(torch.autograd.grad(got, leaves, grad), torch.autograd.grad(expected, leaves, grad)):
        assert torch.allclose(a, b, atol=1e-10)


def test_centralized_attention_drops_each_attention_weight_as_dropout_does():
    """In training each centre's weight on each key is kept with probability 1 - rate (a uniform draw at or
    above rate, drawn as (heads, L, queries, k) per sequence and layer) and scaled by 1 / (1 - rate): the
    reference with that mask gives the same states."""
    from mdsrec_pyg.nn.centralized import CentralizedAttention, attention_dropout
    from mdsrec_pyg.nn.transformer import MultiHeadAttention

    torch.manual_seed(0)
    length, width, k, heads, rate = 6, 16, 3, 2, 0.4
    seqs = torch.randint(1, 50, (1, length))
    rows, positions = (seqs != 0).nonzero(as_tuple=True)
    attentions = [MultiHeadAttention(width, heads, rate).double() for _ in range(2)]
    layer_inputs = [torch.randn(1, length, width, dtype=torch.double) for _ in range(2)]
    centres = torch.randn(k, width, dtype=torch.double)
    module = CentralizedAttention(width, 32, 2).double()
    torch.manual_seed(7)
    got, order = module(centres, layer_inputs, attentions, seqs, rows, positions)
    torch.manual_seed(7)  # the same draws, in the order the layers make them
    kept = torch.stack([torch.rand(heads, length, length, k, dtype=torch.double) >= rate for _ in range(2)])
    for i, t in enumerate(positions[order].tolist()):
        expected = reference_centres(centres, layer_inputs, attentions, module.maps, seqs, 0, t, kept[:, :, :, t], rate)
        assert torch.allclose(got[i], expected, atol=1e-10), t
    weights = torch.rand(200_000)
    dropped, scale = attention_dropout(weights, 0.25, True)
    assert scale == 1 / 0.75 and abs((dropped == 0).double().mean().item() - 0.25) < 0.005
    assert torch.equal(dropped[dropped != 0], weights[dropped != 0])  # survivors as they were, scaled later
    for training, rate in ((False, 0.25), (True, 0.0)):  # evaluation, or no dropout: the weights themselves
        same, scale = attention_dropout(weights, rate, training)
        assert same is weights and scale == 1.0


def test_modal_positions_samples_whole_columns_and_still_trains(tmp_path):
    model, _, split, config = tiny(tmp_path, modal_positions=0.25, dropout=0.0)
    windows = torch.as_tensor(split.train_windows(config.data.max_len))
    inputs, targets = windows[:, :-1], windows[:, 1:]
    rows, positions = (inputs != 0).nonzero(as_tuple=True)
    chosen = model.sampled_queries(positions)
    columns = positions[chosen].unique()
    assert len(columns) == round(0.25 * len(positions.unique()))
    assert torch.equal(chosen, torch.isin(positions, columns).nonzero().squeeze(1))  # every query of a column
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        loss = model.loss(inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.3
    with pytest.raises(InputError, match="modal_positions"):
        tiny(tmp_path, modal_positions=0.0)


@pytest.mark.parametrize("noisy", [True, False])
def test_centre_mix_is_eq_18_19_in_value_and_gradient(noisy):
    """Reference: γ = softmax((e_m . e_c + noise) / τ) over the centres, then sum_c γ_c e_c, by autograd."""
    from mdsrec_pyg.nn.centralized import centre_mix

    torch.manual_seed(0)
    e_m = torch.randn(5, 7, dtype=torch.double, requires_grad=True)
    e_c = torch.randn(5, 3, 7, dtype=torch.double, requires_grad=True)
    noise = torch.randn(5, 3, dtype=torch.double, requires_grad=True) if noisy else None
    logits = torch.einsum("pd,pkd->pk", e_m, e_c) + (noise if noisy else 0)
    expected = torch.einsum("pk,pkd->pd", (logits / 0.3).softmax(-1), e_c)
    got = centre_mix(e_m, e_c, noise, 0.3)
    assert torch.allclose(got, expected)
    grad = torch.randn_like(got)
    inputs = [e_m, e_c] + ([noise] if noisy else [])
    for a, b in zip(torch.autograd.grad(got, inputs, grad), torch.autograd.grad(expected, inputs, grad)):
        assert torch.allclose(a, b)
    assert torch.autograd.gradcheck(lambda *x: centre_mix(x[0], x[1], x[2] if noisy else None, 0.3), inputs)
