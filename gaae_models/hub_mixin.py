"""Hub support of the GAAE networks: :class:`HubModelMixin` (save / load) and :class:`EncoderHubMixin`.

:class:`HubModelMixin` makes a network a :class:`huggingface_hub.PyTorchModelHubMixin` model whose
``config.json`` is *self-describing*: besides the architecture (``config``, a
:class:`~gaae_models.ModelConfig`) it holds the audiospec transform (``audio_config``, a
:class:`audiospec.SpectrogramConfig`), the training set's normalisation statistics (``stats``, an
:class:`audiospec.DatasetStats` without its histogram) and the label names, so that a downloaded
encoder turns raw audio into features by itself. Weights are ``model.safetensors`` only (see
:mod:`gaae_models.hub_files`, which finds and reads the files).

``Encoder.from_pretrained(REPO_OR_DIR)`` works online, from the local cache with
``HF_HUB_OFFLINE=1`` and from a folder written by ``save_pretrained``. One weight file serves three
classes: :class:`~gaae_models.Encoder` (z and s), :class:`~gaae_models.GuidedEncoder` (z only,
head E_z) and :class:`~gaae_models.StyleEncoder` (s only, head E_s) all load a repository written
from an ``Encoder``, each taking the keys it needs.

:class:`EncoderHubMixin` adds :meth:`~EncoderHubMixin.embed`, :meth:`~EncoderHubMixin.spectrograms`
and :meth:`~EncoderHubMixin.encode_batch` to the encoders; the recipe (windows, preprocessing,
the fused inference form) is in :mod:`gaae_models.pipeline`.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
from huggingface_hub import PyTorchModelHubMixin
from torch import nn

from audiospec.atomic import make_readable, temporary_name
from audiospec.config import SpectrogramConfig
from audiospec.io import load_audio
from audiospec.preprocessor import Preprocessor
from audiospec.stats import DatasetStats
from gaae_models.card import MIXIN_CARD_TEMPLATE
from gaae_models.config import ModelConfig
from gaae_models.errors import ConfigError, HubError
from gaae_models.feature_sets import Embedding
from gaae_models.hub_files import (
    HUB_FORMAT_VERSION,
    HUB_TAGS,
    LIBRARY_NAME,
    PAPER_URL,
    WEIGHTS_NAME,
    ResolvedModel,
    is_run_folder,
    load_weights,
    read_hub_config,
    resolve_model,
    stats_to_dict,
)
from gaae_models.pipeline import Extractor
from gaae_models.validation import as_waveform, hop_samples, preprocessor_of

__all__ = ["HubModelMixin", "EncoderHubMixin"]


class HubModelMixin(
    PyTorchModelHubMixin,
    library_name=LIBRARY_NAME,
    license="mit",
    pipeline_tag="feature-extraction",
    tags=list(HUB_TAGS),
    paper_url=PAPER_URL,
    model_card_template=MIXIN_CARD_TEMPLATE,
):
    """Hub support shared by the GAAE networks: a self-describing ``config.json`` and safe loading.

    A class using it sets :attr:`_hub_architecture` (its name in ``config.json``) and
    :attr:`_hub_loads_from` (the architectures whose weights it can take its keys from), calls
    :meth:`_init_hub_metadata` in ``__init__`` and has a ``config`` (:class:`ModelConfig`)
    attribute.

    Attributes
    ----------
    audio_config : SpectrogramConfig or None
        The audiospec transform the model was trained on.
    stats : DatasetStats or None
        The normalisation statistics of its training cache (without the histogram).
    label_names : tuple of str or None
        Names of the classes (the order of the one-hot labels).
    """

    _hub_architecture: ClassVar[str] = ""
    _hub_loads_from: ClassVar[tuple[str, ...]] = ()
    _hub_required: ClassVar[tuple[str, ...]] = ("architecture", "config", "audio_config", "stats")

    config: ModelConfig
    audio_config: SpectrogramConfig | None
    stats: DatasetStats | None
    label_names: tuple[str, ...] | None

    def _init_hub_metadata(
        self,
        audio_config: SpectrogramConfig | None,
        stats: DatasetStats | None,
        label_names: Sequence[str] | None,
    ) -> None:
        if audio_config is not None:
            if not isinstance(audio_config, SpectrogramConfig):
                raise ConfigError(
                    f"audio_config={audio_config!r} must be an audiospec.SpectrogramConfig or None"
                )
            if tuple(audio_config.shape) != tuple(self.config.input_shape):
                raise ConfigError(
                    f"audio_config gives {audio_config.shape} spectrograms but config.input_shape="
                    f"{self.config.input_shape}; they must be equal"
                )
        if stats is not None:
            if not isinstance(stats, DatasetStats):
                raise ConfigError(f"stats={stats!r} must be an audiospec.DatasetStats or None")
            stats = dataclasses.replace(stats, partial=None)  # the histogram is not needed to normalise
        if label_names is not None:
            if isinstance(label_names, str) or not all(isinstance(n, str) for n in label_names):
                raise ConfigError(f"label_names={label_names!r} must be a sequence of strings or None")
            label_names = tuple(label_names)
        self.audio_config = audio_config
        self.stats = stats
        self.label_names = label_names

    @property
    def preprocessor(self) -> Preprocessor:
        """Audio -> this model's input: the :class:`audiospec.preprocessor.Preprocessor` of its
        ``audio_config`` and ``stats`` (HubError when either is unset)."""
        return preprocessor_of(self)

    def _hub_extra_config(self) -> dict[str, Any]:
        return {}

    def hub_config(self) -> dict[str, Any]:
        """The content of ``config.json``.

        Raises
        ------
        HubError
            When ``audio_config`` or ``stats`` is unset: a published model must preprocess audio.
        """
        missing = [name for name in ("audio_config", "stats") if getattr(self, name, None) is None]
        if missing:
            raise HubError(
                f"this {type(self).__name__} has no {' and no '.join(missing)}, so config.json could not "
                "describe its preprocessing; build it with audio_config= and stats= (e.g. a cache's .config "
                "and .stats) or with gaae_models.hub.encoder_from_run(RUN)"
            )
        return {
            "gaae_format": HUB_FORMAT_VERSION,
            "architecture": self._hub_architecture,
            "config": self.config.to_dict(),
            "audio_config": self.audio_config.to_dict(),  # type: ignore[union-attr]
            "stats": stats_to_dict(self.stats),  # type: ignore[arg-type]
            "label_names": None if self.label_names is None else list(self.label_names),
            **self._hub_extra_config(),
        }

    def _save_pretrained(self, save_directory: Path) -> None:
        """Weights as ``model.safetensors`` with exactly the state-dict keys."""
        from safetensors.torch import save_file

        tensors = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}  # type: ignore[attr-defined]
        save_file(tensors, os.path.join(save_directory, WEIGHTS_NAME), metadata={"format": "pt"})

    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        config: dict | None = None,
        repo_id: str | None = None,
        push_to_hub: bool = False,
        model_card_kwargs: dict[str, Any] | None = None,
        **push_to_hub_kwargs: Any,
    ) -> str | None:
        """Write ``config.json``, ``model.safetensors``, ``preprocessor_config.json`` (the
        :attr:`preprocessor`) and (unless present) ``README.md`` atomically.

        The files are written to a temporary folder beside ``save_directory`` and moved into place
        with :func:`os.replace`. An existing ``README.md`` is kept (as huggingface_hub does).

        Parameters
        ----------
        save_directory : path-like
            Created if missing.
        config : None
            Must be None: ``config.json`` is always :meth:`hub_config`.
        repo_id, push_to_hub, model_card_kwargs, **push_to_hub_kwargs
            As in :meth:`huggingface_hub.ModelHubMixin.save_pretrained`.

        Returns
        -------
        str or None
            The commit URL when ``push_to_hub``.
        """
        if config is not None:
            raise ConfigError("config= is not supported: config.json is built from the model (hub_config())")
        data = self.hub_config()
        target = Path(save_directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(temporary_name(target))
        tmp.mkdir()
        try:
            card_kwargs = {"architecture": self._hub_architecture, **(model_card_kwargs or {})}
            super().save_pretrained(tmp, config=data, model_card_kwargs=card_kwargs)
            self.preprocessor.save_pretrained(tmp)
            target.mkdir(exist_ok=True)
            for item in sorted(tmp.iterdir()):
                if item.name == "README.md" and (target / "README.md").exists():
                    continue
                make_readable(item)
                os.replace(item, target / item.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if push_to_hub:
            return self.push_to_hub(
                repo_id or target.name, model_card_kwargs=model_card_kwargs, **push_to_hub_kwargs
            )
        return None

    @classmethod
    def _load_as_pickle(cls, model: Any, model_file: str, map_location: str, strict: bool) -> Any:
        """Never used: pickled weights are refused (see :data:`PICKLE_SUFFIXES`)."""
        raise HubError(f"{model_file!r} is a pickle; gaae_models loads safetensors weights only")

    @classmethod
    def _from_pretrained(cls, *, model_id: str, **kwargs: Any) -> Self:
        """The huggingface_hub hook, routed to :meth:`from_pretrained`."""
        known = ("revision", "cache_dir", "force_download", "local_files_only", "token", "map_location")
        return cls.from_pretrained(model_id, **{k: v for k, v in kwargs.items() if k in known})

    @classmethod
    def _hub_init_kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {
            "audio_config": data.get("audio_config"),
            "stats": data.get("stats"),
            "label_names": data.get("label_names"),
        }

    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        force_download: bool = False,
        local_files_only: bool = False,
        token: str | bool | None = None,
        subfolder: str | None = None,
        map_location: str | torch.device = "cpu",
    ) -> Self:
        """Load a model from a Hub repository ``OWNER/NAME`` or a folder, in eval mode.

        Parameters
        ----------
        pretrained_model_name_or_path : str or path-like
            A local folder written by :meth:`save_pretrained` (or ``gaae export``), a ``gaae fit``
            run folder (its latest checkpoint, with no export step), else a Hub id.
        revision : str, optional
            Branch, tag or commit of the repository [default: main].
        cache_dir : path-like, optional
            Hub cache [default: ``HF_HUB_CACHE``].
        force_download, local_files_only : bool
            As in :func:`huggingface_hub.hf_hub_download`. With ``HF_HUB_OFFLINE=1`` files come from
            the cache and no HTTP request is made.
        token : str or bool, optional
            Hub token [default: ``HF_TOKEN`` or the token file of ``hf auth login``].
        subfolder : str, optional
            Folder inside the repository (``"decoder"`` for the decoder of ``gaae push --with-decoder``).
        map_location : str or torch.device
            Device of the returned model.

        Returns
        -------
        The model, with ``audio_config``, ``stats`` and ``label_names`` set, in eval mode.

        Raises
        ------
        HubError
            The repository, revision or file is missing, only pickled weights exist (nothing is
            loaded), ``config.json`` lacks a key (named) or describes another architecture, or the
            offline cache lacks a file.
        """
        if subfolder is None and is_run_folder(pretrained_model_name_or_path):
            from gaae_models.pretrained import model_from_run

            model = model_from_run(cls, pretrained_model_name_or_path)
            return model.to(map_location).eval()  # type: ignore[return-value]
        resolved = resolve_model(
            pretrained_model_name_or_path,
            subfolder=subfolder,
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            local_files_only=local_files_only,
            token=token,
        )
        return cls._from_resolved(resolved, map_location=map_location)

    @classmethod
    def _from_resolved(cls, resolved: ResolvedModel, *, map_location: str | torch.device = "cpu") -> Self:
        data = read_hub_config(resolved.config, where=resolved.where, required=cls._hub_required)
        arch = data["architecture"]
        if arch not in cls._hub_loads_from:
            raise HubError(
                f"{resolved.where} holds a {arch!r}; {cls.__name__}.from_pretrained loads "
                f"{list(cls._hub_loads_from)} (use gaae_models.hub.load_encoder to pick the class)"
            )
        model = cls(data["config"], **cls._hub_init_kwargs(data))
        load_weights(model, resolved)
        return model.to(map_location).eval()  # type: ignore[attr-defined,return-value]


class EncoderHubMixin(HubModelMixin):
    """Feature extraction for the GAAE encoders (see the module docstring for the recipe).

    The class provides :meth:`embed` and :meth:`spectrograms`; the network class provides
    ``trunk``, :attr:`outputs` and :meth:`latent_heads`.
    """

    #: Names of the latents this encoder gives, in order.
    outputs: ClassVar[tuple[str, ...]] = ()
    trunk: nn.Module

    def latent_heads(self) -> dict[str, nn.Module]:
        """``{name: head}`` for every latent in :attr:`outputs`."""
        raise NotImplementedError

    def _load(self, audio: Any, sample_rate: Any) -> np.ndarray:
        config = self.audio_config
        if config is None:
            raise HubError(f"this {type(self).__name__} has no audio_config, so it cannot preprocess audio")
        if isinstance(audio, (str, os.PathLike)):
            if sample_rate is not None:
                raise ConfigError(
                    f"sample_rate={sample_rate!r} must be None when audio is a path: the file's own rate "
                    f"is read and resampled to {config.sample_rate} Hz"
                )
            return load_audio(audio, sample_rate=config.sample_rate)
        return as_waveform(audio, sample_rate, config.sample_rate)

    def spectrograms(
        self, audio: Any, sample_rate: int | None = None, *, hop: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The normalised spectrograms the encoder sees, one per window.

        Parameters
        ----------
        audio, sample_rate, hop
            As in :meth:`embed`.

        Returns
        -------
        spectrograms : np.ndarray, shape (n_windows, F, T), float32 in [-1, 1]
            Equal to the audiospec cache's ``spectrograms`` of the same crops.
        offsets : np.ndarray, shape (n_windows,), float64
            Window starts in seconds.
        """
        y = self._load(audio, sample_rate)
        pre = self.preprocessor
        windows, starts = pre.frame(y, hop=hop_samples(hop, pre.sample_rate, pre.window))
        return pre.spectrograms(windows), starts / pre.sample_rate

    def embed(
        self,
        audio: np.ndarray | torch.Tensor | str | os.PathLike | Sequence[Any],
        sample_rate: int | None = None,
        *,
        hop: float | None = None,
        which: Sequence[str] | str | None = None,
        batch_size: int = 64,
        device: str | torch.device | None = None,
        precision: str = "float32",
        fused: bool = True,
        workers: int | None = None,
    ) -> Embedding | list[Embedding]:
        """Features of one clip (or a list of clips) of any length and sample rate, per window and pooled.

        Parameters
        ----------
        audio : np.ndarray or torch.Tensor of shape (n,), or path-like; or a batch
            A mono floating-point waveform (values in [-1, 1]) at ``sample_rate``, or an audio
            file (any format soundfile reads; multi-channel files are averaged to mono). A list of
            them (any lengths; files and waveforms mixed, ``sample_rate`` applying to the
            waveforms) or a ``(batch, n)`` array gives a list
            of :class:`Embedding`, one per clip, with windows batched across clips; for one
            pooled vector per row of a padded batch use :meth:`encode_batch`.
        sample_rate : int, optional
            Rate of ``audio`` in Hz; required for a waveform, None for a path. The audio is
            resampled to ``audio_config.sample_rate`` (16 kHz).
        hop : float > 0, optional
            Seconds between window starts [default: one window, ``n_samples / sample_rate`` =
            1.024 s]. The windows are ``audio_config.n_samples`` long; the last one and clips
            shorter than one window are zero-padded at the end.
        which : sequence of {"z", "s"}, optional
            Latents to compute [default: all of :attr:`outputs`].
        batch_size : int >= 1
            Windows per forward pass. Default 64.
        device : str or torch.device, optional
            ``"cpu"``, ``"cuda"``, ``"auto"`` [default: the model's device]. The model itself is
            not moved (an inference copy is placed there).
        precision : {"float32", "bfloat16"}
            ``"bfloat16"`` runs under autocast (faster on GPUs and CPUs with AMX; ~1e-2 relative error).
        fused : bool
            Use the inference form (see the module docstring); False runs the module's forward.
        workers : int >= 1, optional
            Batches computed in parallel [default: one per CPU core on the CPU, each single-threaded
            (torch's intra-op threads are 1 during the call, then restored); 1 on a GPU].

        Returns
        -------
        Embedding, or list of Embedding for a batch
            ``z`` (n_windows, z_dim) and/or ``s`` (n_windows, s_dim) float32, ``offsets``
            (n_windows,) in seconds, the pooled ``z_mean`` / ``s_mean``.

        Raises
        ------
        ConfigError
            A bad argument (the message names it, its value and the rule).
        audiospec.AudioError
            An unreadable, empty or non-finite audio file.

        Examples
        --------
        >>> enc = Encoder.from_pretrained("OWNER/NAME")  # doctest: +SKIP
        >>> e = enc.embed(np.zeros(48000, np.float32), 48000)  # doctest: +SKIP
        >>> e.z.shape, e.z_mean.shape  # doctest: +SKIP
        ((1, 128), (128,))
        """
        extractor = Extractor(
            self,
            which=which,
            hop=hop,
            batch_size=batch_size,
            device=device,
            precision=precision,
            fused=fused,
            workers=workers,
        )
        if isinstance(audio, (list, tuple)) or (
            isinstance(audio, (np.ndarray, torch.Tensor)) and audio.ndim == 2
        ):
            if isinstance(audio, (np.ndarray, torch.Tensor)) and audio.shape[1] <= 8 < audio.shape[0]:
                raise ConfigError(
                    f"audio has shape {tuple(audio.shape)}: a batch is (batch, samples), and this looks "
                    "like (samples, channels); average the channels first (audio.mean(axis=1))"
                )
            clips = [
                self._load(item, None if isinstance(item, (str, os.PathLike)) else sample_rate)
                for item in audio
            ]
            done = extractor.run([(i, (lambda y=y: y)) for i, y in enumerate(clips)])
            return [done[i] for i in range(len(clips))]  # type: ignore[return-value]
        y = self._load(audio, sample_rate)
        return extractor.run([(0, lambda: y)])[0]

    def encode_batch(
        self,
        wavs: torch.Tensor | np.ndarray,
        wav_lens: torch.Tensor | np.ndarray | Sequence[float] | None = None,
        **kwargs: Any,
    ) -> torch.Tensor | np.ndarray:
        """One pooled vector per row of a padded ``(B, T)`` batch, as speechbrain's ``encode_batch``.

        See :func:`gaae_models.batch.encode_batch` (``wav_lens`` are relative lengths in (0, 1];
        torch in gives torch out on the model's device, numpy in gives numpy out; shape (B, dim)).
        """
        from gaae_models.batch import encode_batch

        return encode_batch(self, wavs, wav_lens, **kwargs)
