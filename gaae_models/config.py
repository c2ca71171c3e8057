"""The architecture configuration shared by every GAAE network, and its named presets.

:class:`ModelConfig` holds only architecture hyperparameters (widths, latent sizes, the number of
classes, the spectrogram shape and the normalisation constants); optimisation settings belong to
the trainer. It is frozen, validated on construction and round-trips through JSON-ready dicts, so
that a checkpoint can rebuild its networks from the recorded config alone.

Presets
-------
``"paper"``
    The appendix of Haque, Rana & Schuller (IEEE Access 2020) exactly: ``ch=16`` (trunk widths
    16 ... 256, generator width 256), latents z and s of 128.
``"cpu"``
    What 2 CPU cores can train in minutes without breaking the model: full-rank latents (the
    encoder pools 128 features for z and s of 128), an encoder with real capacity where the
    resolution is high (trunk 8, 8, 16, 32, 64, 128), a lighter sample discriminator (4 ... 64) and
    a tapering BigGAN-style generator (64, 64, 64, 32, 16, 16, 8), no non-local blocks. About the
    FLOPs per step of ``small`` with 12x the encoder's parameters.
``"small"``
    Superseded by ``cpu`` and kept so that old runs load: every ResBlock and head of the paper at
    ``ch=2`` without the non-local blocks. Its encoder pools only 32 features for latents of 128, so
    z and s are rank <= 32 and cannot match N(0, I): :meth:`ModelConfig.check_trainable` refuses it
    for new runs.

Departures from the paper's architecture (recorded in every config, reverted by
:data:`PAPER_MODEL_SETTINGS`): ``cbn_sn=False`` (the class embeddings of conditional batch norm are
plain linears, as in BigGAN-PyTorch, whose authors found that spectral norm there "seems to
randomly cripple G"), ``c_norm="batch"`` (C standardises z first) and ``s_norm="whiten"`` (E_s
ends in a ZCA whitening with running statistics, so s has mean 0 and identity covariance over the
data, the first two moments of N(0, I), and D_latent is left to match the rest) and
``freq_pool_block=3`` (the latent heads also read the third encoder block's output averaged over
time only, so z and s can keep where in frequency the energy lies). Configs stored
before these fields existed load with the values those runs had (:data:`LEGACY_DEFAULTS`).
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass
from typing import Any

from gaae_models.errors import ConfigError

__all__ = [
    "check_model_config",
    "ModelConfig",
    "MAX_PARAMETERS",
    "MAX_WIDTH",
    "MAX_INPUT_SIZE",
    "MAX_CLASSES",
    "PRESETS",
    "model_config",
    "N_RESAMPLINGS",
    "LEGACY_DEFAULTS",
    "PAPER_MODEL_SETTINGS",
]

#: Number of 2x resamplings between the 4 x 2 bottom of the networks and a 256 x 128 spectrogram;
#: every entry of ``input_shape`` must be a multiple of ``2 ** N_RESAMPLINGS``.
N_RESAMPLINGS: int = 6

#: Ceiling on :attr:`ModelConfig.n_parameters` (about 4 GB of float32 weights for E, G, C, D_x and
#: D_latent together; the paper's model has about 1e7). Checked on construction, before any network
#: is built, so that a corrupt or hostile ``config.json`` cannot exhaust memory.
MAX_PARAMETERS: int = 10**9

#: Largest channel width or latent size (``ch`` times 16 included) a config may ask for.
MAX_WIDTH: int = 2**16

#: Largest entry of ``input_shape`` (frequency rows or time frames).
MAX_INPUT_SIZE: int = 2**14

#: Largest number of classes.
MAX_CLASSES: int = 10**6

#: Values of fields added after format 1 that a stored config without them had implicitly.
LEGACY_DEFAULTS: dict[str, Any] = {
    "cbn_sn": True,
    "s_norm": "none",
    "c_norm": "none",
    "freq_pool_block": None,
    "freq_pool_std": False,
}

#: The paper's (BigGAN-lineage) choices for the fields where the defaults depart from it.
PAPER_MODEL_SETTINGS: dict[str, Any] = {
    "cbn_sn": True,
    "s_norm": "none",
    "c_norm": "none",
    "freq_pool_block": None,
    "freq_pool_std": False,
}

#: What the style head may end in (:class:`ModelConfig` ``s_norm``).
S_NORMS: tuple[str, ...] = ("whiten", "batch", "none")

#: What the classifier C may start with (:class:`ModelConfig` ``c_norm``).
C_NORMS: tuple[str, ...] = ("batch", "running", "none")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture hyperparameters of the GAAE networks (E, G, C, D_x, D_latent and baselines).

    Parameters
    ----------
    ch : int >= 1
        Channel multiplier. Trunk widths (encoder and discriminators) are
        ``1, 1, 2, 4, 8, 16`` times ``ch``; the generator is ``16 * ch`` wide in every up block but
        the last (``ch``). The paper uses 16. Default 16.
    z_dim : int >= 1
        Size of the guided latent z (head E_z, read by the classifier C). Default 128.
    s_dim : int >= 1
        Size of the style latent s (head E_s, input of the decoder G, matched to N(0, I) by
        D_latent). Default 128.
    n_classes : int >= 2
        Number of classes K of the one-hot label vectors y, shape ``(B, K)``. Default 10 (SC09).
    input_shape : tuple of two ints
        Spectrogram shape ``(F, T)`` (frequency rows, time frames). Each entry must be a positive
        multiple of 64, because the networks resample six times by 2 between the input and their
        ``(F / 64, T / 64)`` bottom (4 x 2 for the default 256 x 128). Default ``(256, 128)``.
    attention : bool
        Use the non-local (self-attention) blocks: after the first down block of every trunk
        (at ``F/2 x T/2``) and before the last up block of the decoder. Default True.
    encoder_sn : bool
        Spectrally normalise the encoder (its trunk and both heads), as the discriminators are.
        Default True.
    sn_eps : float > 0
        Epsilon of the spectral-norm power iteration. Default 1e-12 (BigGAN-PyTorch; its ImageNet
        script uses 1e-6, which may be safer under fp16).
    bn_eps : float > 0
        Epsilon of every batch norm. Default 1e-5.
    bn_momentum : float in (0, 1]
        Momentum of the batch-norm running statistics. Default 0.1.
    encoder_channels : tuple of 6 ints, optional
        Output widths of the encoder's six down blocks (also the BiGAN feature extractor's);
        ``None`` gives ``ch * (1, 1, 2, 4, 8, 16)``. The last entry is the pooled feature width.
    discriminator_channels : tuple of 6 ints, optional
        The same for the trunks of D_x and the BiGAN joint discriminator; ``None`` as above.
    generator_channels : tuple of 7 ints, optional
        Width of the decoder's bottom (after its dense layer) and the output widths of its six up
        blocks; ``None`` gives ``16 * ch`` six times, then ``ch``.
    cbn_sn : bool
        Spectrally normalise the class embeddings (gain and bias linears) of conditional batch
        norm. Default False (BigGAN-PyTorch); True was the project's format-1 behaviour.
    s_norm : {"whiten", "batch", "none"}
        What E_s ends in: ZCA whitening with running statistics (zero mean, identity covariance;
        :class:`gaae_models.models.layers.Whitening`), a batch norm without affine parameters (unit
        variance per dimension, still correlated), or nothing (the paper's dense head). Default
        "whiten".
    c_norm : {"batch", "running", "none"}
        What the classifier C starts with: a batch norm without affine parameters (default; the
        statistics of each batch in training, running statistics of every batch, generated ones
        included, in eval mode); a per-dimension standardisation by running statistics that only
        the real unlabelled codes of each step move, the same map in training and eval
        ("running"); or nothing (the paper). z, a dense layer's output, carries a common offset
        and scale that C, a small MLP fitted to a few labels, could not undo: on a finished speech
        run a fresh C reached 0.30-0.40 accuracy on its own 40 labelled items without it and 0.95
        with it. The batch norm's train/eval gap is real (instruments, seed 4 at step 300: C read
        its own labelled items at 0.84 with batch statistics, 0.46 in eval mode) but "running" did
        not beat it once E and C are averaged (``TrainConfig.ema_encoder_decay``; benchmark README
        section 13).
    freq_pool_block : int, optional
        Also give the latent heads the output of encoder block ``k`` (1-6) after ReLU, averaged
        over time but not over frequency: ``width_k * F / 2**k`` features concatenated to the
        global sum pool. The paper's global sum pool keeps no absolute frequency, and a linear
        probe reads speaker gender from the trained trunk's sum-pooled features at 0.62-0.67
        balanced accuracy against 0.79 from block 3's time-averaged map (and 0.80 from the
        input's time-averaged spectrum). Default 3; None (the paper) pools globally only.
    freq_pool_std : bool
        With ``freq_pool_block``, also give the heads that map's standard deviation over time
        (another ``width_k * F / 2**k`` features): how much each channel at each frequency changes
        within the clip, which tells a sustained note from a decaying one. A linear probe fitted to
        46 labelled instrument clips read the trained trunk's features at 0.62-0.66 without it and
        0.69-0.76 with it (5 runs), but trained with it C was not better at the final step
        (instruments -0.028 ± 0.068 paired, 5 seeds; speech +0.040 ± 0.048, 3 seeds). Default
        False (the paper has no such features; benchmark README section 18).

    Raises
    ------
    ConfigError
        If a field has the wrong type or is out of range; the message names the field, its value
        and the rule. Sizes are bounded (:data:`MAX_WIDTH`, :data:`MAX_INPUT_SIZE`,
        :data:`MAX_CLASSES`) and so is the parameter count computed from them
        (:data:`MAX_PARAMETERS`), before anything is allocated.

    Examples
    --------
    >>> cfg = ModelConfig(ch=2)
    >>> cfg.bottom_shape
    (4, 2)
    >>> ModelConfig.from_dict(cfg.to_dict()) == cfg
    True
    """

    ch: int = 16
    z_dim: int = 128
    s_dim: int = 128
    n_classes: int = 10
    input_shape: tuple[int, int] = (256, 128)
    attention: bool = True
    encoder_sn: bool = True
    sn_eps: float = 1e-12
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    encoder_channels: tuple[int, ...] | None = None
    discriminator_channels: tuple[int, ...] | None = None
    generator_channels: tuple[int, ...] | None = None
    cbn_sn: bool = False
    s_norm: str = "whiten"
    c_norm: str = "batch"
    freq_pool_block: int | None = 3
    freq_pool_std: bool = False

    def __post_init__(self) -> None:
        for name, most in (("ch", MAX_WIDTH // 16), ("z_dim", MAX_WIDTH), ("s_dim", MAX_WIDTH)):
            value = getattr(self, name)
            if not _is_int(value) or value < 1:
                raise ConfigError(f"{name}={value!r} must be a positive integer")
            if value > most:
                raise ConfigError(f"{name}={value!r} is too large: it must be <= {most}")
        if not _is_int(self.n_classes) or self.n_classes < 2:
            raise ConfigError(f"n_classes={self.n_classes!r} must be an integer >= 2")
        if self.n_classes > MAX_CLASSES:
            raise ConfigError(f"n_classes={self.n_classes!r} is too large: it must be <= {MAX_CLASSES}")
        shape = self.input_shape
        if isinstance(shape, list):
            shape = tuple(shape)
            object.__setattr__(self, "input_shape", shape)
        multiple = 2**N_RESAMPLINGS
        if (
            not isinstance(shape, tuple)
            or len(shape) != 2
            or not all(_is_int(n) and n > 0 and n % multiple == 0 for n in shape)
        ):
            raise ConfigError(
                f"input_shape={self.input_shape!r} must be a pair (F, T) of positive multiples of "
                f"{multiple} (the networks resample {N_RESAMPLINGS} times by 2), e.g. (256, 128)"
            )
        if max(shape) > MAX_INPUT_SIZE:
            raise ConfigError(f"input_shape={shape!r} is too large: each entry must be <= {MAX_INPUT_SIZE}")
        for name, length in (
            ("encoder_channels", N_RESAMPLINGS),
            ("discriminator_channels", N_RESAMPLINGS),
            ("generator_channels", N_RESAMPLINGS + 1),
        ):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, list):
                value = tuple(value)
                object.__setattr__(self, name, value)
            if (
                not isinstance(value, tuple)
                or len(value) != length
                or not all(_is_int(c) and c >= 1 for c in value)
            ):
                raise ConfigError(
                    f"{name}={value!r} must be None or {length} positive integers (one width per block)"
                )
            if max(value) > MAX_WIDTH:
                raise ConfigError(f"{name}={value!r} is too large: each width must be <= {MAX_WIDTH}")
        if self.s_norm not in S_NORMS:
            raise ConfigError(f"s_norm={self.s_norm!r} must be one of {', '.join(S_NORMS)}")
        if self.c_norm not in C_NORMS:
            raise ConfigError(f"c_norm={self.c_norm!r} must be one of {', '.join(C_NORMS)}")
        block = self.freq_pool_block
        if block is not None and (not _is_int(block) or not 1 <= block <= N_RESAMPLINGS):
            raise ConfigError(
                f"freq_pool_block={block!r} must be null (global sum pooling only, the paper) or the "
                f"index of an encoder block, an integer from 1 to {N_RESAMPLINGS}"
            )
        for name in ("attention", "encoder_sn", "cbn_sn", "freq_pool_std"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"{name}={value!r} must be True or False")
        if self.freq_pool_std and self.freq_pool_block is None:
            raise ConfigError(
                "freq_pool_std=True needs a freq_pool_block (the map whose spread over time it pools); "
                "set model.freq_pool_block or model.freq_pool_std=false"
            )
        for name in ("sn_eps", "bn_eps"):
            value = getattr(self, name)
            if not _is_real(value) or value <= 0:
                raise ConfigError(f"{name}={value!r} must be a positive finite number")
            object.__setattr__(self, name, float(value))
        if not _is_real(self.bn_momentum) or not 0 < self.bn_momentum <= 1:
            raise ConfigError(f"bn_momentum={self.bn_momentum!r} must be a number in (0, 1]")
        object.__setattr__(self, "bn_momentum", float(self.bn_momentum))
        counts = self.parameter_counts()
        if sum(counts.values()) > MAX_PARAMETERS:
            widths = {
                "ch": self.ch,
                "encoder_channels": self.trunk_channels,
                "discriminator_channels": self.d_trunk_channels,
                "generator_channels": self.decoder_channels,
            }
            biggest = max(counts, key=counts.__getitem__)
            raise ConfigError(
                f"this ModelConfig would have about {sum(counts.values()):.3g} parameters "
                f"({biggest}: {counts[biggest]:.3g}), over the ceiling of {MAX_PARAMETERS:.0e}; "
                f"reduce the widths ({', '.join(f'{k}={v}' for k, v in widths.items())}), "
                f"z_dim={self.z_dim}, s_dim={self.s_dim} or n_classes={self.n_classes}"
            )

    # --- derived quantities -------------------------------------------------------------------
    @property
    def bottom_shape(self) -> tuple[int, int]:
        """The ``(F, T)`` shape at the bottom of the networks: ``input_shape / 64`` (4 x 2)."""
        return (self.input_shape[0] // 2**N_RESAMPLINGS, self.input_shape[1] // 2**N_RESAMPLINGS)

    @property
    def trunk_channels(self) -> tuple[int, ...]:
        """Output widths of the encoder's six down blocks (``ch * (1, 1, 2, 4, 8, 16)`` unless
        ``encoder_channels`` is given)."""
        return self.encoder_channels or tuple(self.ch * m for m in (1, 1, 2, 4, 8, 16))

    @property
    def d_trunk_channels(self) -> tuple[int, ...]:
        """Output widths of the discriminators' six down blocks (``discriminator_channels``)."""
        return self.discriminator_channels or tuple(self.ch * m for m in (1, 1, 2, 4, 8, 16))

    @property
    def decoder_channels(self) -> tuple[int, ...]:
        """The decoder's bottom width and its six up blocks' output widths (7 entries)."""
        return self.generator_channels or (16 * self.ch,) * N_RESAMPLINGS + (self.ch,)

    @property
    def pooled_features(self) -> int:
        """Width of the encoder's pooled features, the input of both latent heads: the last
        block's width, plus ``width * F / 2**k`` time-averaged features of block ``k =
        freq_pool_block`` when set."""
        return self.trunk_channels[-1] + self.freq_pool_features

    @property
    def freq_pool_features(self) -> int:
        """Number of frequency-resolved features the encoder adds (0 unless ``freq_pool_block``;
        twice the map's ``width * F / 2**k`` with ``freq_pool_std``)."""
        k = self.freq_pool_block
        if k is None:
            return 0
        return (1 + self.freq_pool_std) * self.trunk_channels[k - 1] * (self.input_shape[0] // 2**k)

    def parameter_counts(self) -> dict[str, int]:
        """An estimate of the parameter count of each network, from the config alone.

        Counts the weights of every convolution and linear layer (3 x 3 convs, 1 x 1 skips, the
        decoder's dense bottom and conditional batch norms, the attention blocks) with Python
        integers, so it never overflows or allocates. Within a few percent of the built networks.

        Returns
        -------
        dict
            ``{"encoder", "decoder", "classifier", "d_x", "d_latent"}`` to counts.
        """
        hidden = 128

        def trunk(widths: tuple[int, ...]) -> int:
            total, c_in = 0, 1
            for c_out in widths:
                total += 9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out + 3 * c_out
                c_in = c_out
            if self.attention:
                total += 2 * widths[0] ** 2
            return total

        f0, t0 = self.bottom_shape
        dec = self.decoder_channels
        decoder = (self.s_dim + 1) * dec[0] * f0 * t0 + 3 * dec[-1] * 9
        for c_in, c_out in itertools.pairwise(dec):
            decoder += 9 * c_in * c_out + 9 * c_out * c_out + c_in * c_out + 3 * c_out
            decoder += 2 * self.n_classes * (c_in + c_out)  # conditional batch-norm gains and biases
        if self.attention:
            decoder += 2 * dec[-2] ** 2
        pooled = self.pooled_features
        return {
            "encoder": trunk(self.trunk_channels) + (pooled + 1) * (self.z_dim + self.s_dim),
            "decoder": decoder,
            "classifier": (self.z_dim + 1) * hidden + (hidden + 1) * self.n_classes,
            "d_x": trunk(self.d_trunk_channels) + (self.n_classes + 1) * self.d_trunk_channels[-1],
            "d_latent": (self.s_dim + 1) * hidden + (hidden + 1) * hidden + hidden + 1,
        }

    def check_trainable(self) -> None:
        """Refuse a config whose encoder cannot produce full-rank latents.

        z and s are linear maps of the ``pooled_features`` pooled trunk features, so with fewer
        features than latent dimensions they lie on a subspace of rank ``pooled_features``: s can
        never match N(0, I) and D_latent wins by construction. Old runs with such configs still
        load; this check is for starting new training runs.

        Raises
        ------
        ConfigError
            When ``pooled_features < max(z_dim, s_dim)``.
        """
        need = max(self.z_dim, self.s_dim)
        if self.pooled_features < need:
            raise ConfigError(
                f"the encoder pools {self.pooled_features} features (last entry of trunk widths "
                f"{self.trunk_channels}, plus {self.freq_pool_features} from freq_pool_block="
                f"{self.freq_pool_block}) but z_dim={self.z_dim}, s_dim={self.s_dim}: the pooled width "
                f"must be >= max(z_dim, s_dim) = {need} for full-rank latents; use --preset cpu, a "
                "larger model.ch or model.encoder_channels, or smaller latents"
            )

    # --- serialisation --------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (``input_shape`` becomes a list)."""
        out = dataclasses.asdict(self)
        for name in ("input_shape", "encoder_channels", "discriminator_channels", "generator_channels"):
            if out[name] is not None:
                out[name] = list(out[name])
        return out

    @classmethod
    def _check_keys(cls, keys: Any, what: str) -> None:
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(keys) - set(known))
        if unknown:
            raise ConfigError(f"unknown ModelConfig {what} {unknown}; valid fields are {known}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config from :meth:`to_dict` output (or parsed JSON).

        Unknown keys raise :class:`ConfigError` listing the valid fields; missing keys take their
        defaults; JSON lists become tuples. For a config *stored* by a run or a saved model, use
        :meth:`from_stored`.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"data={data!r} must be a dict of ModelConfig fields")
        cls._check_keys(data, "field(s)")
        values = dict(data)
        if isinstance(values.get("input_shape"), list):
            values["input_shape"] = tuple(values["input_shape"])
        return cls(**values)

    @classmethod
    def from_stored(cls, data: dict[str, Any]) -> ModelConfig:
        """Rebuild a config stored by a run, checkpoint or saved model, of any format version.

        Like :meth:`from_dict`, but a field of :data:`LEGACY_DEFAULTS` missing from ``data`` takes
        the value that configs written before the field existed implied, so that old runs rebuild
        exactly the networks they trained.
        """
        if not isinstance(data, dict):
            raise ConfigError(f"data={data!r} must be a dict of ModelConfig fields")
        return cls.from_dict({**LEGACY_DEFAULTS, **data})

    def replace(self, **overrides: Any) -> ModelConfig:
        """A copy with some fields changed, validated again; unknown names raise :class:`ConfigError`."""
        self._check_keys(overrides, "override(s)")
        return self.from_dict({**self.to_dict(), **overrides})


#: Named presets: the overrides of :class:`ModelConfig` defaults that each one applies.
PRESETS: dict[str, dict[str, Any]] = {
    # The paper's appendix (Tables XIII, XX-XXIII): ch = 16, z and s of 128.
    "paper": {"ch": 16, "z_dim": 128, "s_dim": 128},
    # The paper's ResBlocks and heads at ch = 2 (trunk 2..32, generator 32 channels) without the
    # non-local blocks: with them a CPU GAAE step at batch 8 took ~2.4 s on 2 cores, about half of it
    # in attention (8192 queries x 2048 keys per sample whatever ch is); without, ~1.2 s.
    # Its encoder keeps the global sum pool only (freq_pool_block None): old runs load from their
    # stored configs, and new ones are refused for rank-deficient latents (check_trainable).
    "small": {"ch": 2, "z_dim": 128, "s_dim": 128, "attention": False, "freq_pool_block": None},
    # Full-rank latents and an encoder with real capacity at high resolution, at the FLOPs per step
    # of "small" (E 28k -> 330k parameters; G tapers instead of ending in 2 channels). Pools 128 + 512
    # features (freq_pool_block 3: 16 channels x 32 frequency rows averaged over time).
    "cpu": {
        "ch": 8,
        "z_dim": 128,
        "s_dim": 128,
        "attention": False,
        "encoder_channels": (8, 8, 16, 32, 64, 128),
        "discriminator_channels": (4, 4, 8, 16, 32, 64),
        "generator_channels": (64, 64, 64, 32, 16, 16, 8),
    },
}


def model_config(preset: str, **overrides: Any) -> ModelConfig:
    """Build the :class:`ModelConfig` of a named preset, with optional field overrides.

    Parameters
    ----------
    preset : {"paper", "cpu", "small"}
        Name of an entry of :data:`PRESETS`.
    **overrides
        ModelConfig fields to change, e.g. ``n_classes=3`` for NSynth.

    Returns
    -------
    ModelConfig

    Raises
    ------
    ConfigError
        For an unknown preset (the message lists the presets) or an unknown or invalid field.

    Examples
    --------
    >>> model_config("small", n_classes=3).ch
    2
    """
    if preset not in PRESETS:
        raise ConfigError(f"preset={preset!r} is not known; choose one of {sorted(PRESETS)}")
    return ModelConfig().replace(**{**PRESETS[preset], **overrides})


def check_model_config(config: Any) -> None:
    """Raise ConfigError unless ``config`` is a :class:`ModelConfig` (the networks' first check)."""
    if not isinstance(config, ModelConfig):
        raise ConfigError(f"config={config!r} must be a gaae_models.ModelConfig")
