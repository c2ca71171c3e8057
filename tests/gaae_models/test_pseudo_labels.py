"""L_cls,pseudo (``train.g4``): the average of E and C labels the unlabelled batch for the live C."""

import dataclasses
import json

import pytest
import torch

from gaae_models.batches import gaae_batch
from gaae_models.config import model_config
from gaae_models.errors import ConfigError
from gaae_models.train_config import PAPER_TRAIN_SETTINGS, TrainConfig
from gaae_models.training import prepare_data
from gaae_models.training.losses import GAAE_LOSS_KEYS, gaae_g_losses, gaae_loss_weights
from tests.gaae_models.helpers import fit_one_thread, tiny_gaae_trainer

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False}


def _losses(logits_u, teacher, threshold):
    one = torch.zeros(1)
    return gaae_g_losses(
        x=torch.zeros(2, 1, 4, 4),
        x_rec=torch.zeros(2, 1, 4, 4),
        score_rec=one,
        score_gen=one,
        logits_labelled=torch.zeros(1, 3),
        y_labelled=torch.zeros(1, dtype=torch.long),
        logits_gen=torch.zeros(1, 3),
        y_gen=torch.zeros(1, dtype=torch.long),
        latent_score=one,
        logits_unlabelled=logits_u,
        teacher_probs=teacher,
        threshold=threshold,
    )


def test_the_pseudo_label_loss_counts_confident_items_over_the_whole_batch():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0], [0.5, 0.5, 3.0], [1.0, 1.0, 1.0]])
    teacher = torch.tensor([[0.96, 0.02, 0.02], [0.2, 0.5, 0.3], [0.01, 0.97, 0.02], [0.0, 0.0, 1.0]])
    loss = _losses(logits, teacher, 0.95)["loss/cls_pseudo"]
    log_p = logits - logits.logsumexp(dim=1, keepdim=True)
    # items 0, 2 and 3 are confident (targets 0, 1, 2); item 1 is not; the sum is divided by B = 4
    want = -(log_p[0, 0] + log_p[2, 1] + log_p[3, 2]) / 4
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)
    assert _losses(logits, teacher, 0.999)["loss/cls_pseudo"].item() == pytest.approx(-log_p[3, 2].item() / 4)
    assert "loss/cls_pseudo" not in _losses(None, None, 0.95)


def test_pseudo_label_options_are_checked_and_off_in_the_paper():
    with pytest.raises(ConfigError, match=r"g4=1.0 needs the average of E and C.*decay must be > 0"):
        TrainConfig(g4=1.0, ema_encoder_decay=0.0)
    for bad in (0.0, 1.0, "0.9"):
        with pytest.raises(ConfigError, match=r"pseudo_threshold=.* must be in \(0, 1\)"):
            TrainConfig(pseudo_threshold=bad)
    with pytest.raises(ConfigError, match=r"g4=-1 must be >= 0"):
        TrainConfig(g4=-1)
    assert PAPER_TRAIN_SETTINGS["g4"] == 0.0 and TrainConfig.from_stored({}).g4 == 0.0
    assert list(gaae_loss_weights(TrainConfig())) == list(GAAE_LOSS_KEYS)  # off: the objective is unchanged
    assert gaae_loss_weights(TrainConfig(g4=2.0))["loss/cls_pseudo"] == 0.5 * 2.0


def test_the_student_reads_an_augmented_view_and_the_other_draws_do_not_move(tiny_data):
    fields = {"batch_size": 4, "labelled_batch_size": 2, "labelled_fraction": 0.5, "seed": 1}
    base = TrainConfig(**fields, guidance_augment=True)
    data = prepare_data(tiny_data["train"], base)
    plain = gaae_batch(data, base, 16, step=3)
    pseudo = gaae_batch(data, dataclasses.replace(base, g4=1.0), 16, step=3)
    assert "x_aug" not in plain and set(pseudo) == set(plain) | {"x_aug"}
    for key, value in plain.items():
        assert torch.equal(value, pseudo[key]), key
    masked = pseudo["x_aug"] != pseudo["x"]
    assert pseudo["x_aug"].shape == pseudo["x"].shape and masked.any()
    assert torch.all(pseudo["x_aug"][masked] == -1.0)  # SpecAugment masks to the clip floor


def test_a_step_with_pseudo_labels_trains_c_on_the_average_s_labels(tiny_data):
    t = tiny_gaae_trainer(tiny_data["train"], g4=1.0, pseudo_threshold=1e-6)  # every item counts
    t.train_step(1)
    batch = t.make_batch(2)
    terms, metrics = t.g_terms(batch)
    assert metrics["pseudo/confident"] == 1.0 and metrics["loss/cls_pseudo"] > 0
    assert terms["cls_pseudo"].item() == pytest.approx(0.5 * metrics["loss/cls_pseudo"])
    with torch.no_grad():
        teacher = torch.softmax(t.ema_classifier(t.ema_encoder.encode_z(batch["x"])), dim=1)
    assert torch.allclose(t._teacher_probs(batch["x"]), teacher)
    for opt in t.optimizers().values():
        opt.zero_grad(set_to_none=True)
    terms["cls_pseudo"].backward()
    assert all(p.grad is None for p in t.model.decoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in t.model.encoder.trunk.parameters())
    assert all(p.grad is None for p in t.ema_encoder.parameters())


@pytest.mark.slow
def test_a_format_4_run_resumes_and_a_pseudo_label_run_logs_its_term(tiny_data, tmp_path):
    cfg = model_config("small", **TINY)
    fields = {"batch_size": 4, "labelled_batch_size": 2, "labelled_fraction": 0.5, "seed": 2, "log_every": 1}
    old = fit_one_thread(
        tiny_data["train"], tmp_path / "old", model_config=cfg, train=TrainConfig(steps=2, **fields)
    )
    path = tmp_path / "old" / "config.json"
    record = json.loads(path.read_text())
    for key in ("train", "train_compare"):  # what a run written before these fields holds
        for name in ("g4", "pseudo_threshold", "pseudo_augment"):
            record[key].pop(name)
    record["format_version"] = 4
    path.write_text(json.dumps(record))
    fit_one_thread(
        tiny_data["train"], old, model_config=cfg, train=TrainConfig(steps=3, **fields), resume=True
    )
    assert [json.loads(line)["step"] for line in open(tmp_path / "old" / "log.jsonl")][-1] == 3
    train = TrainConfig(steps=2, g4=2.0, pseudo_threshold=0.5, **fields)
    fit_one_thread(tiny_data["train"], tmp_path / "pl", model_config=cfg, train=train)
    lines = [json.loads(line) for line in open(tmp_path / "pl" / "log.jsonl")]
    steps = [entry for entry in lines if "loss/cls_pseudo" in entry]
    assert [entry["step"] for entry in steps] == [1, 2]
    assert all(0 <= entry["pseudo/confident"] <= 1 for entry in steps)
    record = json.loads((tmp_path / "pl" / "config.json").read_text())
    assert record["departures_from_paper"]["train"]["g4"] == [0.0, 2.0]
