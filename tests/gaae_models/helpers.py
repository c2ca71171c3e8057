"""Test helpers shared by the gaae_models tests: a tiny fit on the CPU, its CLI arguments, the loss keys."""

import torch

from gaae_models.training import fit

#: ``gaae fit`` arguments of a two-step GAAE run on the tiny caches (ch 1, latents 16, no attention).
TINY_FIT_ARGS = [
    "--steps",
    "2",
    "--batch-size",
    "2",
    "--quiet",
    "--labelled-fraction",
    "0.5",
    "--set",
    "model.ch=1",
    "--set",
    "model.z_dim=16",
    "--set",
    "model.s_dim=16",
    "--set",
    "model.attention=false",
    "--set",
    "train.sample_every=100",
]

#: The named losses of one GAAE step (the log keys of the weighted total).
GAAE_LOSSES = (
    "loss/d_x",
    "loss/d_latent",
    "loss/gen",
    "loss/rec",
    "loss/cls_lab",
    "loss/cls_gen",
    "loss/lat",
    "loss/total",
)


def fit_on_cpu(cache, out, **kwargs):
    """:func:`gaae_models.training.fit` on the CPU without a progress bar."""
    return fit(cache, str(out), device="cpu", progress=False, **kwargs)


def fit_one_thread(cache, out, **kwargs):
    """:func:`gaae_models.training.fit` with one torch thread (tiny layers on 2 shared cores: one
    thread is several times faster), without a progress bar; returns ``out`` as a string."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        fit(cache, str(out), progress=False, **kwargs)
    finally:
        torch.set_num_threads(threads)
    return str(out)


def tiny_gaae_trainer(cache, *, s_dim=16, **overrides):
    """A GAAETrainer of the tiny ``small`` networks on ``cache`` (batch 4, 2 labelled, half the labels;
    z of 16, s of ``s_dim``); ``overrides`` are TrainConfig fields."""
    from gaae_models.config import model_config
    from gaae_models.train_config import TrainConfig
    from gaae_models.training import GAAETrainer, prepare_data

    fields = {"batch_size": 4, "labelled_batch_size": 2, "labelled_fraction": 0.5, "seed": 1, **overrides}
    train = TrainConfig(**fields)
    data = prepare_data(cache, train)
    cfg = model_config("small", n_classes=data.n_classes, ch=1, z_dim=16, s_dim=s_dim, attention=False)
    return GAAETrainer(cfg, train, data, device=torch.device("cpu"))
