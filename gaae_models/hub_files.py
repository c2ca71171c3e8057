"""The files of a pretrained GAAE model: where they are, what ``config.json`` holds, how weights load.

A model folder or Hub repository holds ``config.json`` (the architecture, the audiospec transform,
the dataset statistics and the label names; read by :func:`read_hub_config`),
``model.safetensors`` and, since the audio preprocessing got its own class, the
:class:`audiospec.preprocessor.Preprocessor`'s ``preprocessor_config.json``, which gives the
transform and statistics when present. :func:`resolve_model` finds them in a local folder or a Hub repository
(online, or from the local cache with ``HF_HUB_OFFLINE=1``) and refuses a place that holds only
pickled weights (:data:`PICKLE_SUFFIXES`) before anything is read; :func:`load_weights` loads the
safetensors keys a network needs. Nothing here unpickles. Tokens never appear in messages
(:func:`scrub_token`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from audiospec.config import SpectrogramConfig
from audiospec.errors import AudiospecError
from audiospec.preprocessor import PREPROCESSOR_CONFIG_NAME, Preprocessor
from audiospec.stats import DatasetStats
from gaae_models.config import ModelConfig
from gaae_models.errors import ConfigError, GaaeError, HubError

__all__ = [
    "HUB_FORMAT_VERSION",
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "PICKLE_SUFFIXES",
    "LIBRARY_NAME",
    "PAPER_URL",
    "HUB_TAGS",
    "STATS_KEYS",
    "ResolvedModel",
    "stats_to_dict",
    "read_hub_config",
    "scrub_token",
    "is_run_folder",
    "resolve_model",
    "load_weights",
]

#: Version of the gaae_models layout of ``config.json`` (key ``gaae_format``).
HUB_FORMAT_VERSION: int = 1
CONFIG_NAME: str = "config.json"
WEIGHTS_NAME: str = "model.safetensors"
#: File suffixes of pickled weights, which are never loaded (unpickling can run arbitrary code).
PICKLE_SUFFIXES: tuple[str, ...] = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: The Python package that loads the models (``library_name`` of the model cards).
LIBRARY_NAME: str = "gaae-audio"
PAPER_URL: str = "https://arxiv.org/abs/2006.00877"
#: Tags of every published model (the mixin adds ``model_hub_mixin`` and ``pytorch_model_hub_mixin``).
HUB_TAGS: tuple[str, ...] = ("audio", "feature-extraction", "representation-learning", "gaae", "pytorch")

STATS_KEYS = ("mean", "std", "r", "upper", "r_rule", "clip_quantile", "upper_rule", "upper_quantile")


def stats_to_dict(stats: DatasetStats) -> dict[str, Any]:
    """``stats`` without its histogram: what ``config.json`` stores (the keys of :data:`STATS_KEYS`)."""
    return stats.to_dict(histogram=False)


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
class ResolvedModel:
    """A model's parsed ``config.json``, the local path of its weights, and where both came from."""

    config: dict[str, Any]
    weights: str
    where: str


def scrub_token(message: str, token: Any) -> str:
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


def _resolve_folder(folder: str, subfolder: str | None) -> ResolvedModel:
    path = os.path.join(folder, subfolder) if subfolder else folder
    where = f"folder {path!r}"
    if not os.path.isdir(path):
        raise HubError(f"{where} does not exist")
    names = os.listdir(path)
    if WEIGHTS_NAME not in names:
        raise _pickle_refusal(where, [n for n in names if n.lower().endswith(PICKLE_SUFFIXES)])
    if CONFIG_NAME not in names:
        raise HubError(f"{where} holds no {CONFIG_NAME}; it is not a model saved by gaae_models")
    preprocessor = os.path.join(path, PREPROCESSOR_CONFIG_NAME) if PREPROCESSOR_CONFIG_NAME in names else None
    return _resolved(os.path.join(path, CONFIG_NAME), os.path.join(path, WEIGHTS_NAME), preprocessor, where)


def _load_json(path: str, where: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (OSError, json.JSONDecodeError) as exc:
        raise HubError(f"{where}: cannot read {os.path.basename(path)}: {exc}") from None


def _resolved(
    config_path: str, weights_path: str, preprocessor_path: str | None, where: str
) -> ResolvedModel:
    """The model's files; ``preprocessor_config.json``, when there, gives the transform and the statistics
    (folders written before it existed take both from ``config.json``)."""
    config = _load_json(config_path, where)
    if preprocessor_path is not None and isinstance(config, dict):
        try:
            pre = Preprocessor.from_dict(_load_json(preprocessor_path, where)).to_dict()
        except AudiospecError as exc:
            raise HubError(f"{where}: {PREPROCESSOR_CONFIG_NAME} is not valid: {exc}") from None
        config = {**config, "audio_config": pre["audio_config"], "stats": pre["stats"]}
    return ResolvedModel(config, weights_path, where)


def resolve_model(
    model: str | os.PathLike,
    *,
    subfolder: str | None = None,
    revision: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    force_download: bool = False,
    local_files_only: bool = False,
    token: str | bool | None = None,
) -> ResolvedModel:
    """Find ``config.json`` and ``model.safetensors`` of a local folder or a Hub repository."""
    if not isinstance(model, (str, os.PathLike)):
        raise ConfigError(f"model={model!r} must be a Hub repository id OWNER/NAME or a folder path")
    repo_id = os.fspath(model)
    if os.path.isdir(repo_id):
        return _resolve_folder(repo_id, subfolder)
    if os.path.exists(repo_id):
        raise HubError(
            f"model={repo_id!r} is a file; pass the folder that holds {CONFIG_NAME} and {WEIGHTS_NAME}"
        )
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

    def fetch(filename: str, *, optional: bool = False) -> str | None:
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
            if optional:  # a file that older uploads lack: not in the cache of one downloaded before
                return None
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
            raise HubError(scrub_token(message, token)) from None

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
    return _resolved(config_path, weights_path, fetch(PREPROCESSOR_CONFIG_NAME, optional=True), where)


def is_run_folder(path: Any) -> bool:
    """A ``gaae fit`` run folder (``config.json`` naming a model kind), not a pretrained folder."""
    if not isinstance(path, (str, os.PathLike)) or not os.path.isdir(path):
        return False
    from gaae_models.runs import is_run

    return is_run(path)


# --------------------------------------------------------------------------------------------------
# the mixins


def load_weights(model: nn.Module, resolved: ResolvedModel) -> None:
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
