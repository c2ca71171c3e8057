"""Batched embedding of waveforms: ``encode_batch`` (as speechbrain's) and the window encoder behind it.

:class:`WindowEncoder` turns windows of raw audio (``(N, n_samples)`` at the model's rate) into
latents with exactly the preprocessing of :meth:`~gaae_models.hub_mixin.EncoderHubMixin.embed`
(:func:`audiospec.stft_logmag`, then :func:`audiospec.normalize` with the stored statistics) and
the same inference form of the network, a fixed number of windows at a time, so that memory stays
bounded for any clip length. :func:`encode_batch` and :mod:`gaae_models.hear` are built on it.

``encode_batch(wavs, wav_lens)`` follows speechbrain's ``EncoderClassifier.encode_batch``: ``wavs``
is a padded ``(B, T)`` batch, ``wav_lens`` the *relative* length of each row in (0, 1] (1 = the
whole row), and each row gives one vector, the mean over its 1.024 s windows (the ``z_mean`` /
``s_mean`` of ``embed``). A torch tensor in gives a torch tensor out, on the model's device; a
numpy array in gives a numpy array out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from audiospec.io import resample
from gaae_models.errors import ConfigError
from gaae_models.pipeline import WindowRunner
from gaae_models.validation import (
    check_samples,
    hop_samples,
)

if TYPE_CHECKING:
    from gaae_models.hub_mixin import EncoderHubMixin

__all__ = ["WindowEncoder", "encode_batch", "as_waveform_batch"]


class WindowEncoder(WindowRunner):
    """Windows of audio -> normalised spectrograms -> latents, ``batch_size`` windows per pass.

    Parameters
    ----------
    model : Encoder, GuidedEncoder or StyleEncoder
        With ``audio_config`` and ``stats`` (as ``from_pretrained`` gives).
    which : sequence of {"z", "s"}, optional
        Latents to compute, concatenated in this order [default: all the model gives].
    batch_size : int >= 1
        Windows per forward pass (bounds the memory: about ``batch_size`` x 130 kB of spectrograms).
    device : str or torch.device, optional
        Where the network runs [default: the model's device].
    precision : {"float32", "bfloat16"}
    fused : bool
        Use the inference form of the network (see :mod:`gaae_models.models.fused`).

    Attributes
    ----------
    dims : dict of str to int
        Width of each latent in ``which``.
    dim : int
        Their sum: the width of :meth:`encode`'s output.
    """

    def __init__(
        self,
        model: EncoderHubMixin,
        *,
        which: Sequence[str] | str | None = None,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        precision: str = "float32",
        fused: bool = True,
    ) -> None:
        super().__init__(
            model, which=which, batch_size=batch_size, device=device, precision=precision, fused=fused
        )
        heads = model.latent_heads()
        self.dims = {name: int(_out_features(heads[name])) for name in self.which}
        self.dim = sum(self.dims.values())

    @torch.inference_mode()
    def encode(self, windows: np.ndarray) -> torch.Tensor:
        """Latents of windows of raw audio.

        Parameters
        ----------
        windows : np.ndarray, shape (N, n_samples), float32
            Waveforms at the model's sample rate, each exactly one window long.

        Returns
        -------
        torch.Tensor, shape (N, dim), float32, on :attr:`device`
            The latents of ``which``, concatenated.
        """
        out = torch.empty((windows.shape[0], self.dim), dtype=torch.float32, device=self.device)
        for lo in range(0, windows.shape[0], self.batch_size):
            chunk = np.ascontiguousarray(windows[lo : lo + self.batch_size], dtype=np.float32)
            latents = self.run_plan(self.preprocess(chunk))
            out[lo : lo + chunk.shape[0]] = torch.cat([latents[k].float() for k in self.which], dim=1)
        return out

    def centred_windows(self, y: np.ndarray, centres: np.ndarray) -> Iterator[np.ndarray]:
        """Windows of ``y`` centred on ``centres`` (zero outside the audio), ``batch_size`` at a time.

        Parameters
        ----------
        y : np.ndarray, shape (B, n), float32
        centres : np.ndarray, shape (K,), int64
            Sample indices (0 <= c <= n); window k covers ``[c_k - n_samples // 2, c_k + n_samples // 2)``.

        Yields
        ------
        np.ndarray, shape (<= batch_size, n_samples)
            Windows in row-major order (clip 0's K windows, then clip 1's, ...).
        """
        half = self.window // 2
        padded = np.pad(y, ((0, 0), (half, self.window - half)))
        view = np.lib.stride_tricks.sliding_window_view(padded, self.window, axis=1)  # (B, n + 1, W)
        clips = np.repeat(np.arange(y.shape[0]), centres.shape[0])
        starts = np.tile(centres, y.shape[0])
        for lo in range(0, clips.shape[0], self.batch_size):
            yield view[clips[lo : lo + self.batch_size], starts[lo : lo + self.batch_size]]


def _out_features(head: torch.nn.Module) -> int:
    for module in reversed(list(head.modules())):
        if isinstance(module, torch.nn.Linear):
            return module.out_features
    raise ConfigError(f"cannot tell the output width of the head {head!r}")  # pragma: no cover


def as_waveform_batch(wavs: Any, *, name: str = "wavs") -> np.ndarray:
    """A ``(B, T)`` float32 numpy batch from a tensor, an array or a sequence of equal-length 1-D waveforms.

    Raises
    ------
    ConfigError
        Not two-dimensional, not floating point, empty or non-finite (the message names ``name``).
    """
    if isinstance(wavs, torch.Tensor):
        wavs = wavs.detach().to("cpu").numpy() if wavs.dtype != torch.bfloat16 else wavs.float().numpy()
    elif isinstance(wavs, (list, tuple)):
        try:
            wavs = np.stack([w.detach().cpu().numpy() if isinstance(w, torch.Tensor) else w for w in wavs])
        except ValueError:
            raise ConfigError(
                f"{name} is a list of waveforms of different lengths; pad them to one length and pass "
                "wav_lens (relative lengths), or call embed() on the list"
            ) from None
    if not isinstance(wavs, np.ndarray):
        raise ConfigError(
            f"{name} must be a (batch, samples) torch tensor or numpy array, not {type(wavs).__name__}"
        )
    if wavs.ndim != 2:
        raise ConfigError(
            f"{name} has shape {tuple(wavs.shape)}; expected (batch, samples) of mono waveforms "
            "(average the channels first; one clip is wavs[None])"
        )
    if wavs.shape[0] == 0:
        raise ConfigError(f"{name} has shape {tuple(wavs.shape)}; expected at least one waveform")
    check_samples(wavs, name=name)
    return np.ascontiguousarray(wavs, dtype=np.float32)


def _lengths(wav_lens: Any, batch: int, n_samples: int) -> np.ndarray:
    """Absolute lengths (samples) from speechbrain's relative lengths in (0, 1]."""
    if wav_lens is None:
        return np.full(batch, n_samples, dtype=np.int64)
    if isinstance(wav_lens, torch.Tensor):
        wav_lens = wav_lens.detach().to("cpu").double().numpy()
    rel = np.asarray(wav_lens, dtype=np.float64).reshape(-1)
    if rel.shape[0] != batch or not np.all(np.isfinite(rel)) or np.any(rel <= 0) or np.any(rel > 1 + 1e-6):
        raise ConfigError(
            f"wav_lens={np.asarray(wav_lens).tolist()!r} must hold {batch} relative lengths in (0, 1] "
            "(the speechbrain convention: the fraction of each padded row that is audio)"
        )
    return np.clip(np.round(rel * n_samples).astype(np.int64), 1, n_samples)


def encode_batch(
    model: EncoderHubMixin,
    wavs: torch.Tensor | np.ndarray,
    wav_lens: torch.Tensor | np.ndarray | Sequence[float] | None = None,
    *,
    sample_rate: int | None = None,
    which: Sequence[str] | str | None = None,
    hop: float | None = None,
    batch_size: int = 64,
    precision: str = "float32",
    fused: bool = True,
) -> torch.Tensor | np.ndarray:
    """One pooled vector per waveform of a padded batch (speechbrain's ``encode_batch``).

    Row b is cut to its length ``round(wav_lens[b] * T)`` and embedded exactly as
    ``model.embed(row, sample_rate)``; the result is the mean over its windows of the latents in
    ``which``, concatenated (z then s by default).

    Parameters
    ----------
    model : Encoder, GuidedEncoder or StyleEncoder
    wavs : torch.Tensor or np.ndarray, shape (B, T), float
        Mono waveforms in [-1, 1], padded to one length T.
    wav_lens : array-like, shape (B,), optional
        Relative lengths in (0, 1] [default: every row is whole].
    sample_rate : int, optional
        Rate of ``wavs`` in Hz [default: the model's, ``audio_config.sample_rate``]; other rates are
        resampled.
    which : sequence of {"z", "s"}, optional
        Latents to concatenate [default: all the model gives].
    hop : float > 0, optional
        Seconds between window starts [default: one window, 1.024 s].
    batch_size : int >= 1
        Windows per forward pass.
    precision : {"float32", "bfloat16"}
    fused : bool

    Returns
    -------
    torch.Tensor or np.ndarray, shape (B, dim), float32
        A tensor on the model's device when ``wavs`` is a tensor, else a numpy array.

    Raises
    ------
    ConfigError
        A bad argument (named, with its value and the rule).
    """
    as_torch = isinstance(wavs, torch.Tensor)
    y = as_waveform_batch(wavs)
    lengths = _lengths(wav_lens, y.shape[0], y.shape[1])
    encoder = WindowEncoder(model, which=which, batch_size=batch_size, precision=precision, fused=fused)
    rate = encoder.sample_rate
    if sample_rate is not None and (
        isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0
    ):
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer number of Hz")
    hop_n = hop_samples(hop, rate, encoder.window)
    windows: list[np.ndarray] = []
    owners: list[int] = []
    for b in range(y.shape[0]):
        row = y[b, : lengths[b]]
        if sample_rate is not None and int(sample_rate) != rate:
            row = np.asarray(resample(row, int(sample_rate), rate), dtype=np.float32)
        framed, starts = encoder.preprocessor.frame(row, hop=hop_n)
        windows.extend(framed)
        owners.extend([b] * len(starts))
    latents = encoder.encode(np.stack(windows))
    index = torch.as_tensor(owners, device=latents.device)
    sums = torch.zeros((y.shape[0], encoder.dim), dtype=torch.float64, device=latents.device)
    sums.index_add_(0, index, latents.double())
    counts = torch.bincount(index, minlength=y.shape[0]).double().unsqueeze(1)
    pooled = (sums / counts).float()
    return pooled if as_torch else pooled.cpu().numpy()
