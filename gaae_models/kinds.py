"""The model kinds ``gaae fit --model`` trains, in one table that every other module reads.

Each :class:`ModelKind` says how a kind is trained (its trainer and its step batches), which
networks a run of it saves and loads for inference, what those networks can do (classify, encode,
generate, with or without a label) and what evaluation and publishing make of it. The CLI, the
training loop, :func:`~gaae_models.runs.load_run`, ``gaae evaluate``, ``gaae generate`` and the Hub
export all look a kind up here, so adding a model kind is one entry of :data:`KINDS` plus the module
of its trainer.

Examples
--------
>>> from gaae_models.kinds import model_kind
>>> model_kind("bigan").classifier_name
'BiGAN probe'
>>> model_kind("biggan-unsupervised").uses_labels
False
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gaae_models.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from gaae_models.batches import Batch, TrainingData
    from gaae_models.config import ModelConfig
    from gaae_models.train_config import TrainConfig

__all__ = ["ModelKind", "KINDS", "model_kind", "kinds_publishing"]

#: ``make_trainer(model_config, train, data, *, device, dist_info)``: a trainer of the kind.
TrainerFactory = Callable[..., Any]
#: ``make_batches(data, train, latent_dim, rank)``: the picklable ``make(step) -> Batch``.
BatchFactory = Callable[["TrainingData", "TrainConfig", int, int], Callable[[int], "Batch"]]
#: ``networks(model_config, n_classes, input_shape)``: the inference networks by checkpoint name.
NetworkFactory = Callable[["ModelConfig", int, tuple[int, int]], dict[str, "nn.Module"]]
#: ``predict(modules, x)``: class logits (B, K) of spectrograms x (B, 1, F, T).
Predict = Callable[[Mapping[str, "nn.Module"], "torch.Tensor"], "torch.Tensor"]
#: ``encode(modules, x)``: named representations, each (B, D), of spectrograms x (B, 1, F, T).
Encode = Callable[[Mapping[str, "nn.Module"], "torch.Tensor"], dict[str, "torch.Tensor"]]


@dataclass(frozen=True)
class ModelKind:
    """What the code base knows about one model kind.

    Attributes
    ----------
    name : str
        The ``--model`` value, recorded as ``model_kind`` in a run's ``config.json``.
    summary : str
        One line: what the kind is (appendix of the paper).
    make_trainer : callable
        ``(model_config, train, data, *, device, dist_info) -> trainer``: the object
        :func:`~gaae_models.training.fit` drives (``modules()``, ``optimizers()``, ``train_step``,
        and ``predict``/``generate``/``health``/``finish`` as the flags below say).
    make_batches : callable
        ``(data, train, latent_dim, rank) -> make(step)``: the step batches of
        :mod:`gaae_models.batches`.
    networks : callable
        ``(model_config, n_classes, input_shape) -> {name: module}``: the inference networks a run
        loads from its checkpoint, by checkpoint name. Each is read from its EMA copy
        (``ema_decoder``, ``ema_encoder``, ...) when the run kept one.
    predict : callable or None
        ``(modules, x) -> logits`` (B, K); None for kinds without a classifier.
    encode : callable or None
        ``(modules, x) -> {name: (B, D)}``; None for kinds without an encoder.
    bar_keys : tuple of str
        The losses on the progress bar of ``gaae fit``.
    conditional : bool
        The generator takes a label (one-hot (B, K)).
    generates : bool
        The run has a generator: ``gaae fit`` draws samples, ``gaae evaluate`` scores IS/FID.
    uses_labels : bool
        Training reads labels (False: the cache may be unlabelled; no labelled fraction).
    prior_dim : {"s_dim", "z_dim"}
        The :class:`ModelConfig` field that sizes the generator's prior N(0, I).
    classifier_name : str or None
        Its classifier in ``gaae evaluate``'s tables (None: no classifier).
    represents : bool
        ``gaae evaluate`` plots and probes its representations (t-SNE, linear probes).
    health : bool
        The trainer measures the GAAE's health (``trainer.health(step)``).
    probe_at_end : bool
        Its classifier is a probe trained by ``trainer.finish()`` after the last step, so accuracy
        is measured at the last step only.
    checks_latents : bool
        New runs refuse a model config whose latents cannot be trained
        (:meth:`ModelConfig.check_trainable`).
    compiles : bool
        ``train.compile=true`` is implemented.
    encodes_style : bool
        The encoder gives the style s the generator decodes (``gaae generate --from-audio``).
    publishes : tuple of str
        The pretrained parts that can be built from a run and exported to the Hub
        (``encoder``, ``decoder``, ``classifier``).
    """

    name: str
    summary: str
    make_trainer: TrainerFactory
    make_batches: BatchFactory
    networks: NetworkFactory
    predict: Predict | None
    encode: Encode | None
    bar_keys: tuple[str, ...]
    conditional: bool
    generates: bool
    uses_labels: bool = True
    prior_dim: str = "s_dim"
    classifier_name: str | None = None
    represents: bool = False
    health: bool = False
    probe_at_end: bool = False
    checks_latents: bool = False
    compiles: bool = False
    encodes_style: bool = False
    publishes: tuple[str, ...] = ()

    @property
    def classifies(self) -> bool:
        """True when runs of this kind predict labels from spectrograms."""
        return self.predict is not None


# ---------------------------------------------------------------------------------------------------
# the factories, which import each kind's modules when called: the torch-free CLI reads this table,
# and so do the training package and the batches, which it names


def _imported(path: str) -> Any:
    """The object ``module:name``, imported now."""
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _trainer(path: str, **options: Any) -> TrainerFactory:
    """``make_trainer`` of a class taking ``(model_config, train, data, **options, device=, dist_info=)``."""

    def make(model_config: ModelConfig, train: TrainConfig, data: TrainingData, **where: Any) -> Any:
        return _imported(path)(model_config, train, data, **options, **where)

    return make


def _cnn_trainer(model_config: ModelConfig, train: TrainConfig, data: TrainingData, **where: Any) -> Any:
    cnn_trainer = _imported("gaae_models.training.baselines:CNNTrainer")
    return cnn_trainer(train, data, tuple(model_config.input_shape), **where)


def _batches(name: str, *, prior: bool = True, **options: Any) -> BatchFactory:
    """``make_batches`` of :mod:`gaae_models.batches`' ``name``:
    ``partial(name, data, train[, latent_dim], rank=rank, **options)`` (picklable)."""

    def make(data: TrainingData, train: TrainConfig, latent_dim: int, rank: int) -> Callable[[int], Batch]:
        fn = _imported(f"gaae_models.batches:{name}")
        return functools.partial(fn, data, train, *((latent_dim,) if prior else ()), rank=rank, **options)

    return make


def _networks(**parts: tuple[str, dict[str, Any]]) -> NetworkFactory:
    """``networks`` giving ``{name: gaae_models.models.CLASS(model_config, **options)}`` for
    ``name=(CLASS, options)``, built in this order."""

    def build(cfg: ModelConfig, n_classes: int, shape: tuple[int, int]) -> dict[str, nn.Module]:
        return {name: _imported(f"gaae_models.models:{cls}")(cfg, **kw) for name, (cls, kw) in parts.items()}

    return build


def _cnn_networks(cfg: ModelConfig, n_classes: int, shape: tuple[int, int]) -> dict[str, nn.Module]:
    return {"cnn": _imported("gaae_models.models:SimpleCNN")(n_classes, input_shape=shape)}


def _gaae_encode(m: Mapping[str, nn.Module], x: torch.Tensor) -> dict[str, torch.Tensor]:
    z, s = m["encoder"](x)
    return {"z": z, "s": s}


def _biggan(name: str, summary: str, *, conditional: bool) -> ModelKind:
    """A BigGAN baseline: G (cBN when ``conditional``) against D_x; labels only when conditional."""
    return ModelKind(
        name=name,
        summary=summary,
        make_trainer=_trainer("gaae_models.training.baselines:BigGANTrainer", conditional=conditional),
        make_batches=_batches("gan_batch", conditional=conditional),
        networks=_networks(decoder=("Decoder", {"conditional": conditional})),
        predict=None,
        encode=None,
        bar_keys=("loss/d_x", "loss/gen"),
        conditional=conditional,
        generates=True,
        uses_labels=conditional,
    )


#: Every model kind by name, in ``--model``'s order.
KINDS: dict[str, ModelKind] = {
    kind.name: kind
    for kind in (
        ModelKind(
            name="gaae",
            summary="the Guided Adversarial Autoencoder: E (E_z, E_s), G, C, D_x, D_latent",
            make_trainer=_trainer("gaae_models.training.gaae:GAAETrainer"),
            make_batches=_batches("gaae_batch"),
            networks=_networks(
                encoder=("Encoder", {}), decoder=("Decoder", {}), classifier=("Classifier", {})
            ),
            predict=lambda m, x: m["classifier"](m["encoder"].encode_z(x)),
            encode=_gaae_encode,
            bar_keys=("loss/d_x", "loss/gen", "loss/rec", "loss/cls_lab"),
            conditional=True,
            generates=True,
            classifier_name="GAAE classifier C",
            represents=True,
            health=True,
            checks_latents=True,
            compiles=True,
            encodes_style=True,
            publishes=("encoder", "decoder", "classifier"),
        ),
        ModelKind(
            name="cnn",
            summary="the simple CNN on the labelled pool (appendix A-E)",
            make_trainer=_cnn_trainer,
            make_batches=_batches("cnn_batch", prior=False),
            networks=_cnn_networks,
            predict=lambda m, x: m["cnn"](x),
            encode=lambda m, x: {"features": m["cnn"].features(x)},
            bar_keys=("loss/cls", "acc/batch"),
            conditional=False,
            generates=False,
            classifier_name="simple CNN",
        ),
        _biggan("biggan-supervised", "the label-conditional BigGAN (appendix A-A)", conditional=True),
        _biggan(
            "biggan-unsupervised",
            "the unconditional BigGAN, without labels (appendix A-B)",
            conditional=False,
        ),
        ModelKind(
            name="bigan",
            summary="the BiGAN (appendix A-C) and a probe on its frozen features",
            make_trainer=_trainer("gaae_models.training.baselines:BiGANTrainer"),
            make_batches=_batches("bigan_batch"),
            networks=_networks(
                decoder=("Decoder", {"conditional": False}),
                feature=("GuidedEncoder", {}),
                probe=("Classifier", {}),
            ),
            predict=lambda m, x: m["probe"](m["feature"](x)),
            encode=lambda m, x: {"e": m["feature"](x)},
            bar_keys=("loss/d_x", "loss/d_joint", "loss/gen", "loss/bigan"),
            conditional=False,
            generates=True,
            prior_dim="z_dim",
            classifier_name="BiGAN probe",
            represents=True,
            probe_at_end=True,
            checks_latents=True,
        ),
    )
}


def model_kind(name: str, *, argument: str = "model") -> ModelKind:
    """The table entry of a model kind.

    Parameters
    ----------
    name : str
        A key of :data:`KINDS`.
    argument : str
        The argument ``name`` came from, for the error message.

    Raises
    ------
    ConfigError
        ``name`` is not a model kind; the message lists the kinds.
    """
    try:
        return KINDS[name]
    except (KeyError, TypeError):
        raise ConfigError(
            f"{argument}={name!r} is not a model kind; choose one of {', '.join(KINDS)}"
        ) from None


def kinds_publishing(part: str) -> tuple[str, ...]:
    """The kinds whose runs give a pretrained ``part`` (``encoder``, ``decoder``, ``classifier``).

    Examples
    --------
    >>> kinds_publishing("encoder")
    ('gaae',)
    """
    return tuple(name for name, kind in KINDS.items() if part in kind.publishes)
