"""The HEAR 2021 API over a pretrained GAAE encoder (https://hearbenchmark.com).

HEAR (Holistic Evaluation of Audio Representations) compares audio representations through one
common API, which this module implements::

    from gaae_models import hear

    model = hear.load_model("OWNER/NAME")                # a Hub repository, a folder or a gaae run
    emb, ts = hear.get_timestamp_embeddings(audio, model) # audio: (n_sounds, n_samples) at model.sample_rate
    scene = hear.get_scene_embeddings(audio, model)       # (n_sounds, model.scene_embedding_size)

and the official validator accepts it::

    pip install hearvalidator tensorflow-cpu   # the validator imports TensorFlow even for torch models
    hear-validator gaae_models.hear -m OWNER/NAME

Choices (where HEAR leaves them to the model; they follow the HEAR baselines):

* **Timestamps** every ``hop_ms`` = 50 ms (HEAR asks for at most 50 ms), starting at 0 and
  covering the clip: ``n_timestamps = 1 + n_samples // hop``. The embedding at time t is the
  encoder's output for the 1.024 s window *centred* on t (``n_samples // 2`` samples before it),
  with zeros outside the clip, so clips of any length work, including ones shorter than a window.
  Timestamps are exact multiples of the hop in samples, reported in milliseconds (float32, as the
  API specifies).
* **Embedding** = the latents of ``which`` concatenated: z then s by default (``z_dim + s_dim``
  numbers); ``which="z"`` or ``"s"`` gives one of them.
* **Scene embedding** = the mean of the timestamp embeddings taken every ``scene_hop_ms``
  (default 512 ms, half a window, which covers every sample twice at 1/10 of the cost of 50 ms);
  with ``scene_hop_ms=hop_ms`` it is exactly the mean of :func:`get_timestamp_embeddings`.
* Audio is given at ``model.sample_rate`` (the encoder's training rate, 16 kHz), as HEAR
  requires, and preprocessed exactly as the training cache (:mod:`gaae_models.pipeline`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from gaae_models.batch import WindowEncoder, as_waveform_batch
from gaae_models.errors import ConfigError

__all__ = [
    "DEFAULT_HOP_MS",
    "DEFAULT_SCENE_HOP_MS",
    "HearModel",
    "load_model",
    "get_timestamp_embeddings",
    "get_scene_embeddings",
]

#: Milliseconds between timestamp embeddings (HEAR asks for at most 50 ms).
DEFAULT_HOP_MS: float = 50.0
#: Milliseconds between the windows pooled into a scene embedding.
DEFAULT_SCENE_HOP_MS: float = 512.0


def _hop(name: str, value: Any, sample_rate: int) -> int:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not number or not (math.isfinite(value) and value > 0):
        raise ConfigError(f"{name}={value!r} must be a positive number of milliseconds")
    samples = round(float(value) * sample_rate / 1000)
    if samples < 1:
        raise ConfigError(f"{name}={value!r} ms is shorter than one sample at {sample_rate} Hz")
    return samples


class HearModel(nn.Module):
    """A GAAE encoder with the attributes HEAR asks of a model.

    Parameters
    ----------
    encoder : Encoder, GuidedEncoder or StyleEncoder
        With ``audio_config`` and ``stats`` (as ``from_pretrained`` gives).
    which, hop_ms, scene_hop_ms, batch_size, precision, fused
        See :func:`load_model`.

    Attributes
    ----------
    sample_rate : int
        Rate the audio must have (Hz), the encoder's training rate.
    timestamp_embedding_size, scene_embedding_size : int
        Width of the embeddings: the sum of the widths of ``which``.
    hop_samples, scene_hop_samples : int
        Hops in samples.
    """

    def __init__(
        self,
        encoder: nn.Module,
        *,
        which: Sequence[str] | str | None = None,
        hop_ms: float = DEFAULT_HOP_MS,
        scene_hop_ms: float = DEFAULT_SCENE_HOP_MS,
        batch_size: int = 64,
        precision: str = "float32",
        fused: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder.eval()
        probe = WindowEncoder(encoder, which=which, batch_size=batch_size, precision=precision, fused=fused)
        self.which: tuple[str, ...] = probe.which
        self.sample_rate: int = int(probe.sample_rate)
        self.timestamp_embedding_size: int = int(probe.dim)
        self.scene_embedding_size: int = int(probe.dim)
        self.hop_samples = _hop("hop_ms", hop_ms, self.sample_rate)
        self.scene_hop_samples = _hop("scene_hop_ms", scene_hop_ms, self.sample_rate)
        self.batch_size = probe.batch_size
        self.precision = probe.precision
        self.fused = probe.fused
        self._plans: dict[str, WindowEncoder] = {str(probe.device): probe}

    def _window_encoder(self) -> WindowEncoder:
        """The inference form on the encoder's current device (rebuilt after ``.to(device)``)."""
        device = next(self.encoder.parameters()).device
        key = str(device)
        if key not in self._plans:
            self._plans[key] = WindowEncoder(
                self.encoder,
                which=self.which,
                batch_size=self.batch_size,
                precision=self.precision,
                fused=self.fused,
            )
        return self._plans[key]

    def _centred(self, audio: Any, hop: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings ``(n_sounds, K, dim)`` of windows centred every ``hop`` samples; centres in ms."""
        y = as_waveform_batch(audio, name="audio")
        encoder = self._window_encoder()
        n_timestamps = 1 + y.shape[1] // hop
        centres = np.arange(n_timestamps, dtype=np.int64) * hop
        out = torch.empty(
            (y.shape[0] * n_timestamps, encoder.dim), dtype=torch.float32, device=encoder.device
        )
        row = 0
        for windows in encoder.centred_windows(y, centres):
            out[row : row + windows.shape[0]] = encoder.encode(windows)
            row += windows.shape[0]
        ms = torch.from_numpy(centres * (1000.0 / self.sample_rate)).to(torch.float32)
        return out.reshape(y.shape[0], n_timestamps, encoder.dim), ms

    def forward(self, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Same as :func:`get_timestamp_embeddings`."""
        return get_timestamp_embeddings(audio, self)


def load_model(
    model_file_path: str | os.PathLike = "",
    *,
    which: Sequence[str] | str | None = None,
    hop_ms: float = DEFAULT_HOP_MS,
    scene_hop_ms: float = DEFAULT_SCENE_HOP_MS,
    batch_size: int = 64,
    precision: str = "float32",
    fused: bool = True,
    device: str | torch.device = "cpu",
) -> HearModel:
    """Load a pretrained GAAE encoder for HEAR.

    Parameters
    ----------
    model_file_path : str or path-like
        A Hub repository ``OWNER/NAME``, a folder written by ``save_pretrained`` / ``gaae export``,
        or a ``gaae fit`` run folder. (HEAR's name for it; there is no default model.)
    which : {"z", "s"} or a sequence of them, optional
        Latents to concatenate [default: all the encoder gives, z then s].
    hop_ms : float > 0
        Milliseconds between timestamps. Default 50.
    scene_hop_ms : float > 0
        Milliseconds between the windows a scene embedding pools. Default 512.
    batch_size : int >= 1
        Windows per forward pass.
    precision : {"float32", "bfloat16"}
    fused : bool
        The inference form of the network (see :mod:`gaae_models.models.fused`).
    device : str or torch.device
        Where the model is placed (HEAR's harness moves it afterwards with ``.to``).

    Returns
    -------
    HearModel
        A ``torch.nn.Module`` with ``sample_rate``, ``timestamp_embedding_size`` and
        ``scene_embedding_size``.

    Raises
    ------
    ConfigError
        No model was named, or a bad option.
    HubError, CheckpointError
        The model cannot be found or loaded.
    """
    from gaae_models.hub import load_encoder

    if not isinstance(model_file_path, (str, os.PathLike)) or not os.fspath(model_file_path):
        raise ConfigError(
            f"model_file_path={model_file_path!r}: gaae_models.hear has no default model; pass a Hub id "
            "OWNER/NAME, a pretrained folder or a gaae run folder (hear-validator gaae_models.hear -m MODEL)"
        )
    encoder = load_encoder(model_file_path, map_location=device)
    return HearModel(
        encoder,
        which=which,
        hop_ms=hop_ms,
        scene_hop_ms=scene_hop_ms,
        batch_size=batch_size,
        precision=precision,
        fused=fused,
    )


def _embeddings(audio: Any, model: Any, hop: str) -> tuple[torch.Tensor, torch.Tensor, torch.device]:
    """``model``'s embeddings of ``audio`` every ``getattr(model, hop)`` samples, their centres in
    milliseconds, and the device of ``audio`` (where the results go)."""
    if not isinstance(model, HearModel):
        raise ConfigError(
            f"model={type(model).__name__} must be the HearModel that gaae_models.hear.load_model returns"
        )
    embeddings, ms = model._centred(audio, getattr(model, hop))
    return embeddings, ms, audio.device if isinstance(audio, torch.Tensor) else embeddings.device


def get_timestamp_embeddings(audio: torch.Tensor, model: HearModel) -> tuple[torch.Tensor, torch.Tensor]:
    """Embeddings every ``hop_ms`` milliseconds (HEAR 2021).

    Parameters
    ----------
    audio : torch.Tensor, shape (n_sounds, n_samples), float
        Mono audio in [-1, 1] at ``model.sample_rate``; any length.
    model : HearModel

    Returns
    -------
    embeddings : torch.Tensor, shape (n_sounds, n_timestamps, timestamp_embedding_size), float32
        On the device of ``audio``.
    timestamps : torch.Tensor, shape (n_sounds, n_timestamps), float32
        Centre of each embedding's window in milliseconds: 0, hop_ms, 2 hop_ms, ...
        ``n_timestamps = 1 + n_samples // hop``.
    """
    embeddings, ms, device = _embeddings(audio, model, "hop_samples")
    timestamps = ms.unsqueeze(0).expand(embeddings.shape[0], -1).contiguous()
    return embeddings.to(device), timestamps.to(device)


def get_scene_embeddings(audio: torch.Tensor, model: HearModel) -> torch.Tensor:
    """One embedding per clip: the mean of the embeddings taken every ``scene_hop_ms`` (HEAR 2021).

    Parameters
    ----------
    audio, model
        As for :func:`get_timestamp_embeddings`.

    Returns
    -------
    torch.Tensor, shape (n_sounds, scene_embedding_size), float32
        On the device of ``audio``.
    """
    embeddings, _, device = _embeddings(audio, model, "scene_hop_samples")
    return embeddings.double().mean(dim=1).float().to(device)
