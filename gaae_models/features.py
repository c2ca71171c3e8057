"""Pretrained GAAE models on the Hugging Face Hub, and features (z, s) from raw audio.

Pretrained models
-----------------
:class:`HubModelMixin` makes a network a :class:`huggingface_hub.PyTorchModelHubMixin` model whose
``config.json`` is *self-describing*: besides the architecture (``config``, a
:class:`~gaae_models.ModelConfig`) it holds the audiospec transform (``audio_config``, a
:class:`audiospec.SpectrogramConfig`), the training set's normalisation statistics (``stats``, an
:class:`audiospec.DatasetStats` without its histogram) and the label names, so that a downloaded
encoder turns raw audio into features by itself. Weights are ``model.safetensors`` only: a
repository or folder that holds only pickles (``pytorch_model.bin``, ``*.pt``, ...) is refused with
:class:`~gaae_models.errors.HubError` before anything is read, and no code path here unpickles.

``Encoder.from_pretrained(REPO_OR_DIR)`` works online, from the local cache with
``HF_HUB_OFFLINE=1`` and from a folder written by ``save_pretrained``. One weight file serves three
classes: :class:`~gaae_models.Encoder` (z and s), :class:`~gaae_models.GuidedEncoder` (z only,
head E_z) and :class:`~gaae_models.StyleEncoder` (s only, head E_s) all load a repository written
from an ``Encoder``, each taking the keys it needs.

Features from audio
-------------------
``encoder.embed(waveform, sample_rate)`` (or a path) follows the audiospec cache exactly:

1. the audio is read as mono float32 and resampled to ``audio_config.sample_rate`` (16 kHz) with
   :func:`audiospec.resample` (:func:`audiospec.load_audio` for paths);
2. it is cut into windows of ``audio_config.n_samples`` samples (16384 = 1.024 s, the cache's
   clip) starting at ``0, hop, 2 hop, ...`` until every sample is covered; the last window, and a
   clip shorter than one window, are **zero-padded at the end** (as the cache's ``start`` crop
   pads short files);
3. each window becomes :func:`audiospec.stft_logmag` with the stored transform, then
   :func:`audiospec.normalize` with the stored statistics, exactly the cache's ``spectrograms``;
4. batches of windows go through the encoder; every window gives one vector and each file one
   mean-pooled vector.

So a window embedded from audio equals the encoder applied to the cache's spectrogram of the same
crop. By default the encoder runs an inference form of itself (``fused=True``): spectral norms
folded into the weights, each 3x3 conv followed by 2x2 average pooling folded into one 4x4
stride-2 conv, the pooling of 1x1 shortcuts moved before them, channels-last memory; it computes
the same function, equal to the module's own forward up to float rounding (about 1e-6 relative).
``fused=False`` runs the module's own forward.

Many files
----------
:func:`extract_features` (behind ``gaae features``) batches windows across files: one thread
decodes and preprocesses while ``workers`` threads run whole batches through the network; on the
CPU that is one single-threaded forward pass per core (torch's intra-op threads are set to 1
during the call and restored afterwards), which needs no synchronisation between cores and keeps
its speed when the cores are shared. :func:`save_features` writes the result as an ``.npz``
without pickles.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import math
import os
import queue
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import torch
import torch.nn.functional as F
from huggingface_hub import PyTorchModelHubMixin
from torch import nn
from torch.nn.utils import parametrize

from audiospec.config import SpectrogramConfig
from audiospec.errors import AudiospecError
from audiospec.io import load_audio, resample
from audiospec.readers import AUDIO_EXTENSIONS
from audiospec.stats import DatasetStats, normalize
from audiospec.transform import stft_logmag
from gaae_models.config import ModelConfig
from gaae_models.errors import ConfigError, GaaeError, HubError
from gaae_models.nn import DownBlock

__all__ = [
    "HUB_FORMAT_VERSION",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "PICKLE_SUFFIXES",
    "PRECISIONS",
    "LIBRARY_NAME",
    "PAPER_URL",
    "HUB_TAGS",
    "HubModelMixin",
    "EncoderHubMixin",
    "Embedding",
    "FeatureSet",
    "window_starts",
    "list_audio_files",
    "extract_features",
    "save_features",
    "read_hub_config",
]

logger = logging.getLogger(__name__)

#: Version of the gaae_models layout of ``config.json`` (key ``gaae_format``).
HUB_FORMAT_VERSION: int = 1
CONFIG_NAME: str = "config.json"
WEIGHTS_NAME: str = "model.safetensors"
#: File suffixes of pickled weights, which are never loaded (unpickling can run arbitrary code).
PICKLE_SUFFIXES: tuple[str, ...] = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: Compute precisions of :meth:`EncoderHubMixin.embed`: float32, or bfloat16 autocast (CPUs with
#: AMX / AVX-512 BF16 and GPUs; about 1e-2 relative error).
PRECISIONS: tuple[str, ...] = ("float32", "bfloat16")
#: The Python package that loads the models (``library_name`` of the model cards).
LIBRARY_NAME: str = "gaae-audio"
PAPER_URL: str = "https://arxiv.org/abs/2006.00877"
#: Tags of every published model (the mixin adds ``model_hub_mixin`` and ``pytorch_model_hub_mixin``).
HUB_TAGS: tuple[str, ...] = ("audio", "feature-extraction", "representation-learning", "gaae", "pytorch")

_DEFAULT_CARD = """---
{{ card_data }}
---

# {{ architecture | default("GAAE model", true) }} (gaae-audio)

A network of the Guided Adversarial Autoencoder (GAAE, Haque, Rana & Schuller, IEEE Access 2020,
{{ paper_url }}), saved with `gaae_models` (`pip install gaae-audio`). `config.json` holds the
architecture, the audiospec transform and the dataset statistics, so the model preprocesses raw
audio by itself; the weights are `model.safetensors`.

```python
from gaae_models import Encoder

encoder = Encoder.from_pretrained("OWNER/NAME")  # or this folder
features = encoder.embed("clip.wav")               # any length and sample rate
features.z, features.s, features.z_mean            # per 1.024 s window, and pooled
```
"""

_STATS_KEYS = ("mean", "std", "r", "upper", "r_rule", "clip_quantile", "upper_rule", "upper_quantile")


# --------------------------------------------------------------------------------------------------
# argument checks


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ConfigError(f"{name}={value!r} must be a positive integer")
    return int(value)


def _check_precision(precision: Any) -> str:
    if precision not in PRECISIONS:
        raise ConfigError(f"precision={precision!r} is not supported; choose one of {list(PRECISIONS)}")
    return str(precision)


def _resolve_device(device: Any, fallback: torch.device) -> torch.device:
    """``None`` -> ``fallback`` (the model's device); ``"auto"`` -> cuda when available."""
    if device is None:
        return fallback
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device={device!r} is not a torch device; use 'auto', 'cpu' or 'cuda'") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device={device!r} was asked for but CUDA is not available; use 'cpu'")
    return dev


def _hop_samples(hop: Any, sample_rate: int, window: int) -> int:
    """Hop in samples from a hop in seconds (``None``: one window)."""
    if hop is None:
        return window
    if (
        isinstance(hop, bool)
        or not isinstance(hop, (int, float, np.floating, np.integer))
        or not (math.isfinite(hop) and hop > 0)
    ):
        raise ConfigError(f"hop={hop!r} must be a positive number of seconds (or None for one window)")
    samples = round(float(hop) * sample_rate)
    if samples < 1:
        raise ConfigError(f"hop={hop!r} s is shorter than one sample at {sample_rate} Hz (1/{sample_rate} s)")
    return samples


def _check_which(which: Any, outputs: tuple[str, ...]) -> tuple[str, ...]:
    if which is None:
        return outputs
    if isinstance(which, str):
        which = [w.strip() for w in which.split(",") if w.strip()]
    try:
        names = tuple(dict.fromkeys(which))
    except TypeError:
        raise ConfigError(f"which={which!r} must be a sequence of latent names such as ['z', 's']") from None
    unknown = [w for w in names if w not in outputs]
    if not names or unknown:
        raise ConfigError(
            f"which={list(names)!r} must name at least one of the latents this model gives, {list(outputs)} "
            f"(unknown: {unknown})"
        )
    return names


def window_starts(n_samples: int, *, window: int, hop: int) -> np.ndarray:
    """First samples of the windows that cover ``n_samples`` samples.

    Windows start at ``0, hop, 2 hop, ...`` until the last one reaches the end of the audio: with
    ``n <= window`` that is one window; otherwise ``1 + ceil((n - window) / hop)``. The last window
    (or the only one, for a short clip) is zero-padded at the end by the caller.

    Parameters
    ----------
    n_samples : int >= 1
        Length of the audio in samples.
    window, hop : int >= 1
        Window length and hop in samples.

    Returns
    -------
    np.ndarray, shape (n_windows,), int64

    Examples
    --------
    >>> window_starts(16000, window=16384, hop=16384).tolist()
    [0]
    >>> window_starts(40000, window=16384, hop=16384).tolist()
    [0, 16384, 32768]
    """
    n_samples = _positive_int("n_samples", n_samples)
    window = _positive_int("window", window)
    hop = _positive_int("hop", hop)
    count = 1 + max(0, -(-(n_samples - window) // hop))
    return np.arange(count, dtype=np.int64) * hop


# --------------------------------------------------------------------------------------------------
# config.json


def _stats_to_dict(stats: DatasetStats) -> dict[str, Any]:
    return {k: v for k, v in stats.to_dict().items() if k in _STATS_KEYS}


def _describe_key(key: str) -> str:
    return {
        "architecture": "the network class",
        "config": "the architecture, a ModelConfig",
        "audio_config": "the audiospec transform, a SpectrogramConfig",
        "stats": "the dataset statistics of audiospec.normalize",
    }.get(key, key)


def read_hub_config(data: Any, *, where: str, required: Sequence[str]) -> dict[str, Any]:
    """Validate a parsed ``config.json`` and rebuild its typed values.

    Parameters
    ----------
    data : Any
        The parsed JSON.
    where : str
        What the config came from, for messages.
    required : sequence of str
        Keys that must be present and not null.

    Returns
    -------
    dict
        The input with ``config`` a :class:`ModelConfig`, ``audio_config`` a
        :class:`SpectrogramConfig`, ``stats`` a :class:`DatasetStats` and ``label_names`` a tuple
        of str (or None), where present.

    Raises
    ------
    HubError
        A required key is missing (the message names it) or a value is invalid.
    """
    if not isinstance(data, dict):
        raise HubError(f"{where}: config.json must hold a JSON object, not {type(data).__name__}")
    for key in required:
        if data.get(key) is None:
            raise HubError(
                f"{where}: config.json lacks the key {key!r} ({_describe_key(key)}); a gaae_models model "
                "needs it to rebuild the network and preprocess audio. Re-export it with `gaae push` or "
                "save_pretrained() from a model that has audio_config and stats."
            )
    version = data.get("gaae_format", HUB_FORMAT_VERSION)
    if not isinstance(version, int) or version > HUB_FORMAT_VERSION:
        raise HubError(
            f"{where}: config.json has gaae_format={version!r}; this gaae_models reads version "
            f"{HUB_FORMAT_VERSION} and older (upgrade gaae-audio)"
        )
    out = dict(data)
    parsers: dict[str, Callable[[Any], Any]] = {
        "config": ModelConfig.from_stored,
        "audio_config": SpectrogramConfig.from_dict,
        "stats": DatasetStats.from_dict,
    }
    for key, parse in parsers.items():
        if out.get(key) is not None:
            try:
                out[key] = parse(out[key])
            except (GaaeError, AudiospecError, TypeError, ValueError, KeyError) as exc:
                raise HubError(f"{where}: config.json key {key!r} is invalid: {exc}") from None
    names = out.get("label_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise HubError(f"{where}: config.json key 'label_names' must be a list of strings or null")
        out["label_names"] = tuple(names)
    return out


# --------------------------------------------------------------------------------------------------
# resolving a repository or folder


@dataclass(frozen=True)
class _Resolved:
    config: dict[str, Any]
    weights: str
    where: str


def _scrub(message: str, token: Any) -> str:
    """Remove any access token from a message (the explicit one and the ambient one)."""
    from huggingface_hub import get_token

    for secret in {token if isinstance(token, str) else None, get_token()}:
        if secret:
            message = message.replace(secret, "***")
    return message


def _http_reason(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    server = getattr(exc, "server_message", None) or ""
    text = f"HTTP {status}" if status else type(exc).__name__
    return f"{text}{': ' + server.strip() if server and server.strip() else ''}"


def _pickle_refusal(where: str, pickles: Sequence[str]) -> HubError:
    if pickles:
        return HubError(
            f"{where} holds no {WEIGHTS_NAME}, only pickled weights {sorted(pickles)}; gaae_models never "
            "unpickles (loading a pickle can run arbitrary code). Convert them to safetensors first "
            "(safetensors.torch.save_file) from a source you trust."
        )
    return HubError(f"{where} holds no {WEIGHTS_NAME} (gaae_models loads safetensors weights only)")


def _resolve_folder(folder: str, subfolder: str | None) -> _Resolved:
    path = os.path.join(folder, subfolder) if subfolder else folder
    where = f"folder {path!r}"
    if not os.path.isdir(path):
        raise HubError(f"{where} does not exist")
    names = os.listdir(path)
    if WEIGHTS_NAME not in names:
        raise _pickle_refusal(where, [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)])
    if CONFIG_NAME not in names:
        raise HubError(f"{where} holds no {CONFIG_NAME}; it is not a model saved by gaae_models")
    return _Resolved(
        _load_json(os.path.join(path, CONFIG_NAME), where), os.path.join(path, WEIGHTS_NAME), where
    )


def _load_json(path: str, where: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"{where}: cannot read {CONFIG_NAME}: {exc}") from None


def _resolve_repo(
    repo_id: str,
    *,
    subfolder: str | None,
    revision: str | None,
    cache_dir: str | os.PathLike | None,
    force_download: bool,
    local_files_only: bool,
    token: str | bool | None,
) -> _Resolved:
    from huggingface_hub import HfApi, constants, hf_hub_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )
    from huggingface_hub.utils import validate_repo_id

    import gaae_models

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise HubError(
            f"model={repo_id!r} is neither an existing folder nor a Hub repository id OWNER/NAME ({exc})"
        ) from None
    where = f"Hub repository {repo_id!r}"
    if revision is not None:
        where += f" at revision {revision!r}"
    if subfolder:
        where += f" (subfolder {subfolder!r})"
    offline = local_files_only or constants.is_offline_mode()

    def fetch(filename: str) -> str | None:
        try:
            return hf_hub_download(
                repo_id,
                filename,
                subfolder=subfolder or None,
                revision=revision,
                cache_dir=cache_dir,
                force_download=force_download,
                local_files_only=local_files_only,
                token=token,
                library_name=LIBRARY_NAME,
                library_version=gaae_models.__version__,
            )
        except RemoteEntryNotFoundError:
            return None
        except RevisionNotFoundError:
            raise HubError(f"{where}: revision {revision!r} does not exist") from None
        except RepositoryNotFoundError:
            raise HubError(
                f"{where} was not found on {constants.ENDPOINT} (check the name; a private repository needs "
                "a token: HF_TOKEN, `hf auth login` or token=...)"
            ) from None
        except (LocalEntryNotFoundError, OfflineModeIsEnabled):
            cache = cache_dir or constants.HF_HUB_CACHE
            how = (
                "offline mode is on (HF_HUB_OFFLINE=1 or local_files_only=True)"
                if offline
                else f"{constants.ENDPOINT} cannot be reached"
            )
            raise HubError(
                f"{where}: {filename} is not in the local cache {os.fspath(cache)!r} and {how}; "
                "download the model once while online"
            ) from None
        except HfHubHTTPError as exc:
            status = getattr(getattr(exc, "response", None), "status_code", None)
            hint = (
                " (a private or gated repository needs a token with read access: HF_TOKEN, "
                "`hf auth login` or token=...)"
                if status in (401, 403)
                else ""
            )
            message = f"{where}: downloading {filename} failed: {_http_reason(exc)}{hint}"
            raise HubError(_scrub(message, token)) from None

    config_path = fetch(CONFIG_NAME)
    weights_path = fetch(WEIGHTS_NAME)
    if weights_path is None:
        pickles: list[str] = []
        if not offline:
            try:
                files = HfApi().list_repo_files(repo_id, revision=revision, token=token)
                prefix = f"{subfolder.strip('/')}/" if subfolder else ""
                pickles = [
                    f[len(prefix) :]
                    for f in files
                    if f.startswith(prefix)
                    and "/" not in f[len(prefix) :]
                    and f.lower().endswith(PICKLE_SUFFIXES)
                ]
            except HfHubHTTPError:
                pass
        raise _pickle_refusal(where, pickles)
    if config_path is None:
        raise HubError(f"{where} holds no {CONFIG_NAME}; it is not a model saved by gaae_models")
    return _Resolved(_load_json(config_path, where), weights_path, where)


def _is_run_folder(path: Any) -> bool:
    """A ``gaae fit`` run folder (``config.json`` naming a model kind), not a pretrained folder."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return False
    from gaae_models.runs import is_run

    return is_run(path)


def _resolve(
    model: str | os.PathLike,
    *,
    subfolder: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> _Resolved:
    """Find ``config.json`` and ``model.safetensors`` of a local folder or a Hub repository."""
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(f"model={model!r} must be a Hub repository id OWNER/NAME or a folder path")
    path = os.fspath(model)
    if os.path.isdir(path):
        return _resolve_folder(path, subfolder)
    if os.path.exists(path):
        raise HubError(
            f"model={path!r} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
    return _resolve_repo(
        path,
        subfolder=subfolder,
        revision=revision,
        cache_dir=cache_dir,
        force_download=force_download,
        local_files_only=local_files_only,
        token=token,
    )


# --------------------------------------------------------------------------------------------------
# the mixins


class HubModelMixin(
    PyTorchModelHubMixin,
    library_name=LIBRARY_NAME,
    license="mit",
    pipeline_tag="feature-extraction",
    tags=list(HUB_TAGS),
    paper_url=PAPER_URL,
    model_card_template=_DEFAULT_CARD,
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
            "stats": _stats_to_dict(self.stats),  # type: ignore[arg-type]
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
        """Write ``config.json``, ``model.safetensors`` and (unless present) ``README.md`` atomically.

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
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        try:
            card_kwargs = {"architecture": self._hub_architecture, **(model_card_kwargs or {})}
            super().save_pretrained(tmp, config=data, model_card_kwargs=card_kwargs)
            target.mkdir(exist_ok=True)
            for item in sorted(tmp.iterdir()):
                if item.name == "README.md" and (target / "README.md").exists():
                    continue
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
        if subfolder is None and _is_run_folder(pretrained_model_name_or_path):
            from gaae_models.pretrained import model_from_run

            model = model_from_run(cls, pretrained_model_name_or_path)
            return model.to(map_location).eval()  # type: ignore[return-value]
        resolved = _resolve(
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
    def _from_resolved(cls, resolved: _Resolved, *, map_location: str | torch.device = "cpu") -> Self:
        data = read_hub_config(resolved.config, where=resolved.where, required=cls._hub_required)
        arch = data["architecture"]
        if arch not in cls._hub_loads_from:
            raise HubError(
                f"{resolved.where} holds a {arch!r}; {cls.__name__}.from_pretrained loads "
                f"{list(cls._hub_loads_from)} (use gaae_models.hub.load_encoder to pick the class)"
            )
        model = cls(data["config"], **cls._hub_init_kwargs(data))
        _load_weights(model, resolved)
        return model.to(map_location).eval()  # type: ignore[attr-defined,return-value]


def _load_weights(model: nn.Module, resolved: _Resolved) -> None:
    """Load the safetensors keys ``model`` needs; other heads of a full Encoder may be present."""
    from safetensors import SafetensorError, safe_open

    want = list(model.state_dict().keys())
    try:
        with safe_open(resolved.weights, framework="pt", device="cpu") as f:
            have = set(f.keys())
            missing = [k for k in want if k not in have]
            if missing:
                raise HubError(
                    f"{resolved.where}: {WEIGHTS_NAME} lacks {len(missing)} weight(s) of "
                    f"{type(model).__name__}, e.g. {missing[:3]}; is it another architecture?"
                )
            extra = sorted(have - set(want))
            allowed = getattr(model, "_hub_optional_prefixes", ())
            unexpected = [k for k in extra if not k.startswith(tuple(allowed))]
            if unexpected:
                raise HubError(
                    f"{resolved.where}: {WEIGHTS_NAME} holds {len(unexpected)} weight(s) that "
                    f"{type(model).__name__} does not have, e.g. {unexpected[:3]}"
                )
            tensors = {k: f.get_tensor(k) for k in want}
    except SafetensorError as exc:
        raise HubError(f"{resolved.where}: {WEIGHTS_NAME} is not a valid safetensors file: {exc}") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise HubError(
            f"{resolved.where}: the weights do not fit the architecture in config.json: {exc}"
        ) from None


# --------------------------------------------------------------------------------------------------
# inference form of an encoder


class _FusedDownBlock(nn.Module):
    """A :class:`~gaae_models.nn.DownBlock` (downsampling, 1x1 shortcut) computed with fewer FLOPs.

    ``avg_pool2x2(conv3x3(h))`` is one 4x4 stride-2 convolution whose kernel is the 3x3 kernel
    spread over the four pooling offsets and divided by 4; ``avg_pool2x2(conv1x1(x))`` is
    ``conv1x1(avg_pool2x2(x))``. Both identities are exact in real arithmetic.
    """

    def __init__(self, block: DownBlock) -> None:
        super().__init__()
        self.preactivation = block.preactivation
        self.conv1 = block.conv1
        conv2 = block.conv2
        out_ch, in_ch = conv2.weight.shape[:2]
        self.conv2 = nn.Conv2d(in_ch, out_ch, 4, stride=2, padding=1, bias=conv2.bias is not None)
        with torch.no_grad():
            kernel = torch.zeros(out_ch, in_ch, 4, 4, dtype=conv2.weight.dtype)
            for a in (0, 1):
                for b in (0, 1):
                    kernel[:, :, a : a + 3, b : b + 3] += conv2.weight
            self.conv2.weight.copy_(kernel * 0.25)
            if conv2.bias is not None:
                self.conv2.bias.copy_(conv2.bias)
        self.conv_sc = block.conv_sc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(x) if self.preactivation else x
        h = self.conv2(F.relu(self.conv1(h), inplace=True))
        return h.add_(self.conv_sc(F.avg_pool2d(x, 2)))


def _fusable(block: nn.Module) -> bool:
    return (
        isinstance(block, DownBlock)
        and block.downsample
        and block.conv_sc is not None
        and tuple(block.conv2.kernel_size) == (3, 3)
        and tuple(block.conv2.padding) == (1, 1)
        and tuple(block.conv2.stride) == (1, 1)
        and tuple(block.conv_sc.kernel_size) == (1, 1)
    )


def _plain_layer(layer: nn.Conv2d | nn.Linear) -> nn.Module:
    """A plain Conv2d / Linear holding the current value of a parametrized layer's weight."""
    weight = layer.weight  # the parametrization's value (no power iteration in eval mode)
    if isinstance(layer, nn.Conv2d):
        plain: nn.Module = nn.Conv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            stride=layer.stride,
            padding=layer.padding,
            dilation=layer.dilation,
            groups=layer.groups,
            bias=layer.bias is not None,
            padding_mode=layer.padding_mode,
        )
    else:
        plain = nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    plain = plain.to(device=weight.device, dtype=weight.dtype)
    plain.weight.copy_(weight)
    if layer.bias is not None:
        plain.bias.copy_(layer.bias)
    return plain


def _replace_parametrized(parent: nn.Module) -> None:
    for name, child in list(parent.named_children()):
        if parametrize.is_parametrized(child) and isinstance(child, (nn.Conv2d, nn.Linear)):
            setattr(parent, name, _plain_layer(child))
        else:
            _replace_parametrized(child)


@torch.no_grad()
def _bake(module: nn.Module) -> nn.Module:
    """A copy in eval mode whose spectrally normalised layers are plain layers holding W / sigma.

    (``parametrize.remove_parametrizations`` is not used: it edits the parametrized class, which a
    deep copy shares with the original module.)
    """
    module = copy.deepcopy(module).eval()
    if parametrize.is_parametrized(module) and isinstance(module, (nn.Conv2d, nn.Linear)):
        return _plain_layer(module)
    _replace_parametrized(module)
    return module


class _Plan(nn.Module):
    """Trunk + selected heads: ``(B, 1, F, T) -> {name: (B, dim)}``."""

    def __init__(self, trunk: nn.Module, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        self.trunk = trunk
        self.heads = nn.ModuleDict(heads)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.trunk(x)
        return {name: head(h) for name, head in self.heads.items()}


def _build_plan(model: EncoderHubMixin, which: tuple[str, ...], device: torch.device, fused: bool) -> _Plan:
    heads = model.latent_heads()
    if not fused:
        plan = _Plan(copy.deepcopy(model.trunk), {k: copy.deepcopy(heads[k]) for k in which})
        return plan.eval().to(device)
    trunk = _bake(model.trunk)
    blocks = getattr(trunk, "blocks", None)
    if isinstance(blocks, nn.ModuleList):
        for i, block in enumerate(blocks):
            if _fusable(block):
                blocks[i] = _FusedDownBlock(block)
    plan = _Plan(trunk, {k: _bake(heads[k]) for k in which}).eval()
    return plan.to(device=device, memory_format=torch.channels_last)


# --------------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True)
class Embedding:
    """The features of one clip.

    Attributes
    ----------
    z : np.ndarray or None, shape (n_windows, z_dim), float32
        Guided latent of each window (None when the model or ``which`` has no z).
    s : np.ndarray or None, shape (n_windows, s_dim), float32
        Style latent of each window.
    offsets : np.ndarray, shape (n_windows,), float64
        Start of each window in seconds.
    duration : float
        Length of the audio in seconds (before padding).
    sample_rate : int
        Rate the audio was resampled to (Hz).
    """

    z: np.ndarray | None
    s: np.ndarray | None
    offsets: np.ndarray
    duration: float
    sample_rate: int

    @property
    def n_windows(self) -> int:
        """Number of windows."""
        return int(self.offsets.shape[0])

    @property
    def z_mean(self) -> np.ndarray | None:
        """Mean of ``z`` over the windows, shape (z_dim,), float32."""
        return None if self.z is None else _mean(self.z)

    @property
    def s_mean(self) -> np.ndarray | None:
        """Mean of ``s`` over the windows, shape (s_dim,), float32."""
        return None if self.s is None else _mean(self.s)


def _mean(x: np.ndarray) -> np.ndarray:
    return x.mean(axis=0, dtype=np.float64).astype(np.float32)


@dataclass(frozen=True)
class FeatureSet:
    """Features of many files, as :func:`extract_features` returns and :func:`save_features` writes.

    Attributes
    ----------
    files : tuple of str
        The files that were read, in input order.
    file_index : np.ndarray, shape (N,), int64
        For each window, its file (an index into ``files``).
    offset_seconds : np.ndarray, shape (N,), float64
        For each window, its start in its file (s).
    latents : dict of str to np.ndarray
        ``{"z": (N, z_dim), "s": (N, s_dim)}`` (the requested ones), float32.
    pooled : dict of str to np.ndarray
        The per-file means, ``{"z": (n_files, z_dim), ...}``, float32.
    n_windows : np.ndarray, shape (n_files,), int64
    duration_seconds : np.ndarray, shape (n_files,), float64
    skipped : tuple of (str, str)
        Files that could not be read, with the reason.
    sample_rate : int
    window_seconds, hop_seconds : float
    """

    files: tuple[str, ...]
    file_index: np.ndarray
    offset_seconds: np.ndarray
    latents: dict[str, np.ndarray]
    pooled: dict[str, np.ndarray]
    n_windows: np.ndarray
    duration_seconds: np.ndarray
    skipped: tuple[tuple[str, str], ...]
    sample_rate: int
    window_seconds: float
    hop_seconds: float

    def arrays(self) -> dict[str, np.ndarray]:
        """The npz arrays: ``z``/``s``, ``z_mean``/``s_mean``, the index and metadata (no pickles)."""
        out: dict[str, np.ndarray] = {}
        for name, value in self.latents.items():
            out[name] = value
            out[f"{name}_mean"] = self.pooled[name]
        out.update(
            file_index=self.file_index,
            offset_seconds=self.offset_seconds,
            files=np.array(self.files, dtype=str),
            n_windows=self.n_windows,
            duration_seconds=self.duration_seconds,
            skipped_files=np.array([p for p, _ in self.skipped], dtype=str),
            skipped_reasons=np.array([r for _, r in self.skipped], dtype=str),
            latent_names=np.array(list(self.latents), dtype=str),
            sample_rate=np.array(self.sample_rate, dtype=np.int64),
            window_seconds=np.array(self.window_seconds),
            hop_seconds=np.array(self.hop_seconds),
        )
        return out


def save_features(
    path: str | os.PathLike, features: FeatureSet, *, metadata: dict[str, Any] | None = None
) -> str:
    """Write :meth:`FeatureSet.arrays` (plus string ``metadata``) as an ``.npz`` file, atomically.

    Parameters
    ----------
    path : path-like
        Output file; written to a temporary name beside it and renamed.
    features : FeatureSet
    metadata : dict of str to str or list of str, optional
        Extra arrays, e.g. the model id (stored as unicode arrays, loadable without pickle).

    Returns
    -------
    str
        The absolute path written.
    """
    path = os.path.abspath(os.fspath(path))
    arrays = features.arrays()
    for key, value in (metadata or {}).items():
        if key in arrays:
            raise ConfigError(f"metadata key {key!r} collides with a feature array; choose another name")
        arrays[key] = np.array(value, dtype=str)
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


# --------------------------------------------------------------------------------------------------
# the extraction pipeline


@dataclass
class _Pending:
    n_windows: int
    duration: float
    latents: dict[str, np.ndarray] = field(default_factory=dict)
    received: int = 0


def _n_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put into a bounded queue unless ``stop`` is set meanwhile."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class _Extractor:
    """Windows -> normalised spectrograms -> latents, batched across files.

    One thread decodes and preprocesses (numpy / scipy, which release the GIL) while ``workers``
    threads run the network on whole batches. On the CPU every worker runs single-threaded
    (torch's intra-op threads are set to 1 during the run and restored afterwards): independent
    batches on independent cores need no synchronisation, which is faster than splitting each
    small convolution over the cores, and much faster when the cores are shared.
    """

    def __init__(
        self,
        model: EncoderHubMixin,
        *,
        which: Any,
        hop: Any,
        batch_size: Any,
        device: Any,
        precision: Any,
        fused: bool,
        workers: Any = None,
    ) -> None:
        if model.audio_config is None or model.stats is None:
            raise HubError(
                f"this {type(model).__name__} has no audio_config/stats, so it cannot preprocess audio; "
                "load it with from_pretrained(), or pass audio_config= and stats= when building it"
            )
        self.audio_config: SpectrogramConfig = model.audio_config
        self.stats: DatasetStats = model.stats
        self.which = _check_which(which, model.outputs)
        self.window = self.audio_config.n_samples
        self.sample_rate = self.audio_config.sample_rate
        self.hop = _hop_samples(hop, self.sample_rate, self.window)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.precision = _check_precision(precision)
        fallback = next(model.parameters()).device  # type: ignore[attr-defined]
        self.device = _resolve_device(device, fallback)
        if workers is None:
            workers = _n_cores() if self.device.type == "cpu" else 1
        self.workers = _positive_int("workers", workers)
        self.fused = bool(fused)
        self.plan = _build_plan(model, self.which, self.device, self.fused)

    def preprocess(self, windows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> normalised ``(B, F, T)`` float32, exactly as the cache."""
        return normalize(stft_logmag(windows, config=self.audio_config), self.stats)

    def _events(self, sources: Iterable[tuple[Any, Callable[[], np.ndarray]]]) -> Iterator[tuple]:
        pending: list[np.ndarray] = []
        owners: list[tuple[Any, int]] = []

        def flush() -> tuple:
            batch = self.preprocess(np.stack(pending))
            event = ("batch", batch, list(owners))
            pending.clear()
            owners.clear()
            return event

        for key, load in sources:
            try:
                y = load()
            except AudiospecError as exc:
                yield ("skip", key, str(exc))
                continue
            starts = window_starts(y.shape[0], window=self.window, hop=self.hop)
            yield ("file", key, len(starts), y.shape[0] / self.sample_rate)
            for index, start in enumerate(starts):
                segment = y[start : start + self.window]
                if segment.shape[0] < self.window:
                    segment = np.pad(segment, (0, self.window - segment.shape[0]))
                pending.append(segment)
                owners.append((key, index))
                if len(pending) == self.batch_size:
                    yield flush()
        if pending:
            yield flush()

    def _forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        x = torch.from_numpy(batch).unsqueeze(1).to(self.device, non_blocking=True)
        if self.fused:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            out = self.plan(x)
        return {k: v.float().cpu().numpy() for k, v in out.items()}

    def run(
        self,
        sources: Iterable[tuple[Any, Callable[[], np.ndarray]]],
        *,
        on_done: Callable[[Any], None] | None = None,
        on_skip: Callable[[Any, str], None] | None = None,
    ) -> dict[Any, Embedding]:
        """Embed every source; returns ``{key: Embedding}`` for the ones that could be read."""
        results: queue.Queue = queue.Queue()  # events in order, and results in any order
        batches: queue.Queue = queue.Queue(maxsize=2 * self.workers)
        stop = threading.Event()

        def produce() -> None:
            count = 0
            try:
                for event in self._events(sources):
                    if event[0] != "batch":
                        results.put(event)
                    elif _put(batches, event, stop):
                        count += 1
                    else:
                        return
                results.put(("produced", count))
            except BaseException as exc:  # re-raised by the caller's thread
                results.put(("error", exc))
            finally:
                for _ in range(self.workers):
                    _put(batches, None, stop)

        def compute() -> None:
            try:
                with torch.inference_mode():
                    while not stop.is_set():
                        try:
                            item = batches.get(timeout=0.05)
                        except queue.Empty:
                            continue
                        if item is None:
                            return
                        results.put(("result", item[2], self._forward(item[1])))
            except BaseException as exc:
                results.put(("error", exc))

        pending: dict[Any, _Pending] = {}
        done: dict[Any, Embedding] = {}
        threads = [threading.Thread(target=produce, name="gaae-features-decode", daemon=True)]
        threads += [
            threading.Thread(target=compute, name=f"gaae-features-{i}", daemon=True)
            for i in range(self.workers)
        ]
        intra_op = torch.get_num_threads()
        single_threaded = self.device.type == "cpu" and self.workers > 1
        try:
            if single_threaded:
                torch.set_num_threads(1)
            with parametrize.cached():
                for thread in threads:
                    thread.start()
                expected, received = None, 0
                while expected is None or received < expected:
                    event = results.get()
                    kind = event[0]
                    if kind == "error":
                        raise event[1]
                    if kind == "produced":
                        expected = event[1]
                    elif kind == "skip":
                        if on_skip is not None:
                            on_skip(event[1], event[2])
                    elif kind == "file":
                        pending[event[1]] = _Pending(event[2], event[3])
                    else:
                        received += 1
                        for key in self._scatter(event[1], event[2], pending):
                            done[key] = self._finish(pending.pop(key))
                            if on_done is not None:
                                on_done(key)
        finally:
            stop.set()
            for thread in threads:
                if thread.is_alive():
                    thread.join(timeout=10)
            if single_threaded:
                torch.set_num_threads(intra_op)
        return done

    @staticmethod
    def _scatter(owners: list[tuple[Any, int]], arrays: dict[str, np.ndarray], pending: dict) -> list[Any]:
        """Put each row at its file's window index; returns the files that are now complete."""
        complete = []
        for row, (key, index) in enumerate(owners):
            entry = pending[key]
            for name, values in arrays.items():
                if name not in entry.latents:
                    entry.latents[name] = np.empty((entry.n_windows, values.shape[1]), dtype=np.float32)
                entry.latents[name][index] = values[row]
            entry.received += 1
            if entry.received == entry.n_windows:
                complete.append(key)
        return complete

    def _finish(self, entry: _Pending) -> Embedding:
        return Embedding(
            z=entry.latents.get("z"),
            s=entry.latents.get("s"),
            offsets=np.arange(entry.n_windows, dtype=np.float64) * (self.hop / self.sample_rate),
            duration=entry.duration,
            sample_rate=self.sample_rate,
        )


def _waveform(audio: Any, sample_rate: Any, target: int) -> np.ndarray:
    """A mono float32 waveform at ``target`` Hz from an array or tensor at ``sample_rate``."""
    if isinstance(audio, torch.Tensor):
        audio = audio.detach().cpu().numpy()
    if not isinstance(audio, np.ndarray):
        raise ConfigError(
            f"audio must be a waveform (numpy array or torch tensor of shape (n,)) or a path, "
            f"not {type(audio).__name__}"
        )
    if audio.ndim != 1:
        raise ConfigError(
            f"audio has shape {audio.shape}; expected one mono waveform of shape (n,) "
            "(average the channels first)"
        )
    if audio.dtype.kind != "f":
        raise ConfigError(
            f"audio has dtype {audio.dtype}; expected floating-point samples in [-1, 1] "
            "(divide integer PCM by its full scale, e.g. 32768)"
        )
    if audio.shape[0] == 0:
        raise ConfigError("audio has 0 samples; expected at least one")
    if sample_rate is None:
        raise ConfigError(
            "sample_rate=None: give the waveform's sample rate in Hz (it is resampled to the model's)"
        )
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)) or sample_rate <= 0:
        raise ConfigError(f"sample_rate={sample_rate!r} must be a positive integer number of Hz")
    if not np.all(np.isfinite(audio)):
        raise ConfigError("audio contains non-finite samples (NaN or inf)")
    y = resample(audio, int(sample_rate), target)
    return np.ascontiguousarray(y, dtype=np.float32)


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
        return _waveform(audio, sample_rate, config.sample_rate)

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
        config, stats = self.audio_config, self.stats
        if config is None or stats is None:
            raise HubError(
                f"this {type(self).__name__} has no audio_config/stats, so it cannot preprocess audio"
            )
        hop_n = _hop_samples(hop, config.sample_rate, config.n_samples)
        starts = window_starts(y.shape[0], window=config.n_samples, hop=hop_n)
        padded = np.pad(y, (0, max(0, int(starts[-1]) + config.n_samples - y.shape[0])))
        windows = np.stack([padded[s : s + config.n_samples] for s in starts])
        return normalize(stft_logmag(windows, config=config), stats), starts / config.sample_rate

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
        extractor = _Extractor(
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


# --------------------------------------------------------------------------------------------------
# many files


def list_audio_files(
    inputs: Sequence[str | os.PathLike], *, extensions: Sequence[str] = AUDIO_EXTENSIONS
) -> list[str]:
    """Expand files and folders into a list of audio files.

    Parameters
    ----------
    inputs : sequence of path-like
        Files (taken as they are, whatever their extension) and folders (searched recursively for
        files whose extension is in ``extensions``, case-insensitively; names starting with ``.``
        are skipped), in order; each folder's files are sorted. Duplicates are dropped.
    extensions : sequence of str
        Default :data:`audiospec.readers.AUDIO_EXTENSIONS`.

    Returns
    -------
    list of str

    Raises
    ------
    ConfigError
        An input does not exist.
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    suffixes = tuple(e.lower() for e in extensions)
    out: dict[str, None] = {}
    for item in inputs:
        path = os.fspath(item)
        if os.path.isdir(path):
            found = []
            for root, dirs, files in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.extend(
                    os.path.join(root, f)
                    for f in files
                    if not f.startswith(".") and f.lower().endswith(suffixes)
                )
            out.update(dict.fromkeys(sorted(found)))
        elif os.path.exists(path):
            out[path] = None
        else:
            raise ConfigError(f"input {path!r} does not exist; pass audio files or folders")
    return list(out)


def extract_features(
    model: EncoderHubMixin,
    inputs: Sequence[str | os.PathLike],
    *,
    which: Sequence[str] | str | None = None,
    hop: float | None = None,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    precision: str = "float32",
    fused: bool = True,
    workers: int | None = None,
    progress: bool = False,
    on_skip: Callable[[str, str], None] | None = None,
) -> FeatureSet:
    """Features of many audio files, batched across files, with decoding overlapped with compute.

    Parameters
    ----------
    model : Encoder, GuidedEncoder or StyleEncoder
        With ``audio_config`` and ``stats`` (as :meth:`~HubModelMixin.from_pretrained` gives).
    inputs : sequence of path-like
        Files and folders (see :func:`list_audio_files`).
    which, hop, batch_size, device, precision, fused, workers
        As in :meth:`EncoderHubMixin.embed`; batches hold windows of consecutive files.
    progress : bool
        Show a tqdm progress bar (files) on stderr.
    on_skip : callable(path, reason), optional
        Called for each unreadable file, which is skipped [default: a logging warning].

    Returns
    -------
    FeatureSet

    Raises
    ------
    ConfigError
        A bad argument, or no input file at all.
    """
    from tqdm import tqdm

    extractor = _Extractor(
        model,
        which=which,
        hop=hop,
        batch_size=batch_size,
        device=device,
        precision=precision,
        fused=fused,
        workers=workers,
    )
    files = list_audio_files(inputs)
    if not files:
        raise ConfigError(
            f"inputs={[os.fspath(i) for i in inputs]!r} hold no audio file {list(AUDIO_EXTENSIONS)}"
        )
    skipped: list[tuple[str, str]] = []
    bar = tqdm(total=len(files), unit="file", desc="gaae features", disable=not progress, file=sys.stderr)

    def skip(index: int, reason: str) -> None:
        skipped.append((files[index], reason))
        if on_skip is not None:
            on_skip(files[index], reason)
        else:
            logger.warning("skipped %s: %s", files[index], reason)
        bar.update(1)

    rate = extractor.sample_rate
    sources = ((i, (lambda p=p: load_audio(p, sample_rate=rate))) for i, p in enumerate(files))
    try:
        done = extractor.run(sources, on_done=lambda _: bar.update(1), on_skip=skip)
    finally:
        bar.close()
    order = [i for i in range(len(files)) if i in done]
    embeddings = [done[i] for i in order]
    counts = np.array([e.n_windows for e in embeddings], dtype=np.int64)
    latents = {}
    pooled = {}
    for name in extractor.which:
        per_file = [getattr(e, name) for e in embeddings]
        dim = model.latent_heads()[name].out_features if not per_file else per_file[0].shape[1]
        latents[name] = np.concatenate(per_file) if per_file else np.zeros((0, dim), np.float32)
        pooled[name] = np.stack([_mean(v) for v in per_file]) if per_file else np.zeros((0, dim), np.float32)
    return FeatureSet(
        files=tuple(files[i] for i in order),
        file_index=np.repeat(np.arange(len(order), dtype=np.int64), counts),
        offset_seconds=np.concatenate([e.offsets for e in embeddings]) if embeddings else np.zeros(0),
        latents=latents,
        pooled=pooled,
        n_windows=counts,
        duration_seconds=np.array([e.duration for e in embeddings], dtype=np.float64),
        skipped=tuple(skipped),
        sample_rate=rate,
        window_seconds=extractor.window / rate,
        hop_seconds=extractor.hop / rate,
    )
