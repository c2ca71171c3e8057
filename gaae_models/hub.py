"""Publishing trained GAAE runs on the Hugging Face Hub (``gaae push``) and loading them back.

A published repository holds

* ``config.json`` + ``model.safetensors``: the encoder E (trunk, heads E_z and E_s), with the
  architecture, the audiospec transform, the dataset statistics and the label names (see
  :mod:`gaae_models.hub_files`). ``Encoder.from_pretrained(REPO)`` gives z and s,
  ``GuidedEncoder.from_pretrained(REPO)`` z only (E trunk + E_z), ``StyleEncoder.from_pretrained(REPO)``
  s only (E trunk + E_s);
* ``classifier/config.json`` + ``classifier/model.safetensors``: the classifier C on z
  (:class:`~gaae_models.pretrained.PretrainedClassifier`); with the encoder it makes
  :class:`~gaae_models.pretrained.AudioClassifier` (``gaae predict``);
* ``decoder/config.json`` + ``decoder/model.safetensors`` (``--with-decoder``): the generator
  G(s, y), as :class:`PretrainedDecoder` (``subfolder="decoder"``);
* ``README.md``: a model card (training data, labelled fraction, evaluation numbers when a report
  is given, usage, license, tags, ``library_name: gaae-audio``, ``pipeline_tag: feature-extraction``).

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, the token file of ``hf auth login``)
or the ``token`` argument, and never appear in cards, configs, logs or error messages.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import torch

import gaae_models
from audiospec.atomic import atomic_dir, atomic_write_text
from audiospec.config import SpectrogramConfig
from audiospec.stats import DatasetStats
from gaae_models.card import model_card
from gaae_models.config import ModelConfig
from gaae_models.errors import ConfigError, HubError
from gaae_models.hub_files import LIBRARY_NAME, read_hub_config, resolve_model, scrub_token
from gaae_models.hub_mixin import HubModelMixin
from gaae_models.kinds import kinds_publishing
from gaae_models.models import Decoder, Encoder, GuidedEncoder, StyleEncoder
from gaae_models.runs import TrainedRun, as_run

__all__ = [
    "DECODER_SUBFOLDER",
    "ENCODER_CLASSES",
    "PretrainedDecoder",
    "load_encoder",
    "encoder_from_run",
    "decoder_from_run",
    "read_report_entry",
    "model_card",
    "export_run",
    "push_run",
    "relative_files",
]

#: Folder of the decoder inside a published repository.
DECODER_SUBFOLDER: str = "decoder"
#: The encoder classes by their ``architecture`` name in ``config.json``.
ENCODER_CLASSES: dict[str, type] = {
    "Encoder": Encoder,
    "GuidedEncoder": GuidedEncoder,
    "StyleEncoder": StyleEncoder,
}


class PretrainedDecoder(Decoder, HubModelMixin):
    """The GAAE decoder G(s, y) as a pretrained model (``gaae push --with-decoder``).

    A :class:`~gaae_models.Decoder` whose ``config.json`` also holds the transform, the statistics
    (to turn its normalised spectrograms back into audio with :func:`audiospec.reconstruct`) and
    the label names (the order of ``y``).

    Parameters
    ----------
    config : ModelConfig
    conditional : bool
        As for :class:`~gaae_models.Decoder` (True for GAAE).
    audio_config : audiospec.SpectrogramConfig, optional
    stats : audiospec.DatasetStats, optional
    label_names : sequence of str, optional

    Examples
    --------
    >>> dec = PretrainedDecoder.from_pretrained("OWNER/NAME", subfolder="decoder")  # doctest: +SKIP
    >>> x = dec(torch.randn(2, dec.config.s_dim), torch.eye(dec.config.n_classes)[:2])  # doctest: +SKIP
    >>> spec = x[:, 0].detach().numpy()  # doctest: +SKIP
    >>> audio = audiospec.reconstruct(spec, config=dec.audio_config, stats=dec.stats)  # doctest: +SKIP
    """

    _hub_architecture = "Decoder"
    _hub_loads_from = ("Decoder",)

    def __init__(
        self,
        config: ModelConfig,
        *,
        conditional: bool = True,
        audio_config: SpectrogramConfig | None = None,
        stats: DatasetStats | None = None,
        label_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(config, conditional=conditional)
        self._init_hub_metadata(audio_config, stats, label_names)

    def _hub_extra_config(self) -> dict[str, Any]:
        return {"conditional": self.conditional}

    @classmethod
    def _hub_init_kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        conditional = data.get("conditional", True)
        if not isinstance(conditional, bool):
            raise HubError(f"config.json key 'conditional'={conditional!r} must be true or false")
        return {**super()._hub_init_kwargs(data), "conditional": conditional}


def relative_files(folder: str | os.PathLike) -> list[str]:
    """Every file under ``folder`` as a sorted ``/``-separated path relative to it."""
    return sorted(
        os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
        for root, _, names in os.walk(folder)
        for f in names
    )


def load_encoder(
    model: str | os.PathLike,
    *,
    revision: str | None = None,
    token: str | bool | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_files_only: bool = False,
    map_location: str | torch.device = "cpu",
) -> Encoder | GuidedEncoder | StyleEncoder:
    """Load a pretrained encoder with the class its ``config.json`` names.

    Parameters
    ----------
    model : str or path-like
        Hub repository ``OWNER/NAME``, a pretrained folder, or a ``gaae fit`` run folder (its
        latest checkpoint; gives an :class:`~gaae_models.Encoder`).
    revision, token, cache_dir, local_files_only, map_location
        As in :meth:`~gaae_models.hub_mixin.HubModelMixin.from_pretrained`.

    Returns
    -------
    Encoder, GuidedEncoder or StyleEncoder, in eval mode.

    Raises
    ------
    HubError
        See :meth:`~gaae_models.hub_mixin.HubModelMixin.from_pretrained`; also when the model is
        not an encoder (a decoder, say).
    CheckpointError
        ``model`` is a run folder that is not a GAAE run or has no checkpoint.
    """
    from gaae_models.pretrained import is_run_folder

    if is_run_folder(model):
        return encoder_from_run(os.fspath(model)).to(map_location)
    resolved = resolve_model(
        model, revision=revision, token=token, cache_dir=cache_dir, local_files_only=local_files_only
    )
    data = read_hub_config(resolved.config, where=resolved.where, required=("architecture",))
    cls = ENCODER_CLASSES.get(data["architecture"])
    if cls is None:
        raise HubError(
            f"{resolved.where} holds a {data['architecture']!r}, not an encoder ({sorted(ENCODER_CLASSES)})"
        )
    return cls._from_resolved(resolved, map_location=map_location)


# --------------------------------------------------------------------------------------------------
# runs


def encoder_from_run(run_dir: str | os.PathLike | TrainedRun, *, checkpoint: str | None = None) -> Encoder:
    """The trained encoder E of a GAAE run, with its transform, statistics and label names.

    Parameters
    ----------
    run_dir : path-like or TrainedRun
        A folder written by ``gaae fit`` (model kind ``gaae``), or such a run already loaded with
        :func:`~gaae_models.runs.load_run`.
    checkpoint : str, optional
        A checkpoint folder (path, or name under ``RUN/checkpoints``) [default: the latest].

    Returns
    -------
    Encoder
        In eval mode, on the CPU, ready for :meth:`~Encoder.save_pretrained` and ``embed``.

    Raises
    ------
    CheckpointError
        No run or checkpoint there, a damaged checkpoint, or the run is not a GAAE run.
    """
    run = as_run(run_dir, checkpoint=checkpoint, kinds=kinds_publishing("encoder"))
    encoder = Encoder(run.model_config, **run.hub_metadata())
    encoder.load_state_dict(run.modules["encoder"].state_dict())
    return encoder.eval()


def decoder_from_run(
    run_dir: str | os.PathLike | TrainedRun, *, checkpoint: str | None = None
) -> PretrainedDecoder:
    """The trained decoder G of a GAAE run: its EMA copy when the run kept one.

    The choice is :func:`~gaae_models.runs.decoder_key`'s, as for :func:`~gaae_models.runs.load_run`.
    Parameters and errors as for :func:`encoder_from_run`.
    """
    run = as_run(run_dir, checkpoint=checkpoint, kinds=kinds_publishing("decoder"))
    decoder = PretrainedDecoder(run.model_config, conditional=True, **run.hub_metadata())
    decoder.load_state_dict(run.modules["decoder"].state_dict())
    return decoder.eval()


def read_report_entry(report_dir: str | os.PathLike, run_dir: str | os.PathLike) -> dict[str, Any]:
    """The entry of ``run_dir`` in a ``gaae evaluate`` report (``REPORT_DIR/results.json``).

    Raises
    ------
    ConfigError
        No ``results.json`` there, or it holds no entry whose ``run_dir`` is this run.
    """
    path = os.path.join(os.fspath(report_dir), "results.json")
    try:
        with open(path) as f:
            report = json.load(f)
    except FileNotFoundError:
        raise ConfigError(
            f"report={os.fspath(report_dir)!r} holds no results.json (see gaae evaluate)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the report {path!r}: {exc}") from None
    runs = report.get("runs") if isinstance(report, dict) else None
    if not isinstance(runs, list):
        raise ConfigError(f"the report {path!r} has no 'runs' list")
    target = os.path.realpath(os.fspath(run_dir))
    for entry in runs:
        if isinstance(entry, dict) and entry.get("run_dir") and os.path.realpath(entry["run_dir"]) == target:
            return {**entry, "test_cache": report.get("test_cache")}  # the card names the test set
    listed = [e.get("run_dir") for e in runs if isinstance(e, dict)]
    raise ConfigError(f"the report {path!r} has no entry for the run {target!r} (it lists {listed})")


# --------------------------------------------------------------------------------------------------
# export and push


def export_run(
    run_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    repo_id: str = "OWNER/NAME",
    with_decoder: bool = False,
    report_dir: str | os.PathLike | None = None,
    checkpoint: str | None = None,
    license_id: str = "mit",
    datasets: Sequence[str] = (),
    overwrite: bool = False,
    with_classifier: bool = True,
) -> str:
    """Write the folder ``gaae push`` uploads (``gaae export``): encoder, classifier, optional decoder, card.

    The folder is built beside ``out_dir`` and renamed into place. Its files get mode 0644 and its
    folders 0755 under the usual umask 022 (``0o666 & ~umask`` and ``0o777 & ~umask``: what any
    new file gets), so that other users can load them; ``from_pretrained`` reads it as it is.

    Parameters
    ----------
    run_dir : path-like
        A ``gaae fit`` run of model kind ``gaae``.
    out_dir : path-like
        Must not exist (or be empty) unless ``overwrite``.
    repo_id : str
        Name used in the card's usage snippet.
    with_decoder : bool
        Also write ``decoder/`` (the EMA decoder when the run kept one).
    report_dir : path-like, optional
        A ``gaae evaluate`` report folder; the card quotes this run's numbers.
    checkpoint : str, optional
        Default: the latest.
    license_id : str
    datasets : sequence of str
    overwrite : bool
        Replace a non-empty ``out_dir``.
    with_classifier : bool
        Also write ``classifier/`` (C, for :class:`~gaae_models.pretrained.AudioClassifier`) when
        the run has label names. Default True.

    Returns
    -------
    str
        ``out_dir`` as an absolute path.
    """
    from gaae_models.pretrained import CLASSIFIER_SUBFOLDER, classifier_from_run

    run_dir = os.path.abspath(os.fspath(run_dir))
    out = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not overwrite:
        raise ConfigError(f"out_dir={out!r} exists and is not empty; pass overwrite=True to replace it")
    run = as_run(run_dir, checkpoint=checkpoint, kinds=kinds_publishing("encoder"))
    record, meta = run.record, run.meta
    entry = read_report_entry(report_dir, run_dir) if report_dir is not None else None
    encoder = encoder_from_run(run)
    with_classifier = bool(with_classifier and meta.get("label_names"))
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    with atomic_dir(out) as tmp:
        card = model_card(
            repo_id=repo_id,
            record=record,
            meta=meta,
            report_entry=entry,
            with_decoder=with_decoder,
            with_classifier=with_classifier,
            license_id=license_id,
            datasets=datasets,
        )
        atomic_write_text(os.path.join(tmp, "README.md"), card)
        encoder.save_pretrained(tmp)
        parts = {DECODER_SUBFOLDER: decoder_from_run} if with_decoder else {}
        if with_classifier:
            parts[CLASSIFIER_SUBFOLDER] = classifier_from_run
        for folder, build in parts.items():
            build(run).save_pretrained(os.path.join(tmp, folder))
            os.remove(os.path.join(tmp, folder, "README.md"))  # one card, at the top
    return out


def _transport_errors() -> tuple[type[BaseException], ...]:
    """Connection-level errors of the HTTP client huggingface_hub uses (httpx or its fork httpx2)."""
    import importlib

    errors: list[type[BaseException]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).HTTPError)
        except (ImportError, AttributeError):
            pass
    return tuple(errors)


def push_run(
    run_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    token: str | None = None,
    with_decoder: bool = False,
    report_dir: str | os.PathLike | None = None,
    checkpoint: str | None = None,
    commit_message: str | None = None,
    license_id: str = "mit",
    datasets: Sequence[str] = (),
) -> dict[str, Any]:
    """Publish a GAAE run's encoders (and decoder) with a model card on the Hub.

    Creates the repository if needed (``private`` applies then), and the branch ``revision`` from
    ``main`` if it does not exist, and uploads the :func:`export_run` folder in one commit.

    Parameters
    ----------
    run_dir : path-like
    repo_id : str
        ``OWNER/NAME``.
    private : bool
        Create the repository private.
    revision : str, optional
        Branch to commit to [default: main].
    token : str, optional
        Hub token [default: ``HF_TOKEN`` or the token file]; never printed.
    with_decoder, report_dir, checkpoint, license_id, datasets
        As in :func:`export_run`.
    commit_message : str, optional

    Returns
    -------
    dict
        ``repo_id``, ``revision``, ``commit_url``, ``commit``, ``files`` (the uploaded paths).

    Raises
    ------
    HubError
        The Hub refused or could not be reached (the message never holds the token).
    CheckpointError, ConfigError
        Bad run, report or arguments.
    """
    from huggingface_hub import HfApi, constants
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled
    from huggingface_hub.utils import validate_repo_id

    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise ConfigError(
            f"repo_id={repo_id!r} must be OWNER/NAME (a user or organisation, then the model name)"
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise ConfigError(f"repo_id={repo_id!r} is not a valid Hub repository id: {exc}") from None
    if revision is not None and (not isinstance(revision, str) or not revision.strip()):
        raise ConfigError(f"revision={revision!r} must be a non-empty branch name")
    with tempfile.TemporaryDirectory(prefix="gaae-push-") as tmp:
        folder = export_run(
            run_dir,
            os.path.join(tmp, "model"),
            repo_id=repo_id,
            with_decoder=with_decoder,
            report_dir=report_dir,
            checkpoint=checkpoint,
            license_id=license_id,
            datasets=datasets,
        )
        files = relative_files(folder)
        api = HfApi(token=token, library_name=LIBRARY_NAME, library_version=gaae_models.__version__)
        try:
            repo = api.create_repo(repo_id, private=private, exist_ok=True).repo_id
            if revision is not None and revision != constants.DEFAULT_REVISION:
                api.create_branch(repo, branch=revision, exist_ok=True)
            info = api.upload_folder(
                repo_id=repo,
                folder_path=folder,
                revision=revision,
                commit_message=commit_message or f"gaae push {os.path.basename(os.path.abspath(run_dir))}",
            )
        except OfflineModeIsEnabled:
            raise HubError("cannot push: offline mode is on (HF_HUB_OFFLINE=1)") from None
        except HfHubHTTPError as exc:
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            hint = (
                " (check the token: HF_TOKEN, `hf auth login` or --token; it needs write access)"
                if status in (401, 403)
                else ""
            )
            server = (getattr(exc, "server_message", None) or "").strip()
            raise HubError(
                scrub_token(
                    f"pushing to {repo_id!r} on {constants.ENDPOINT} failed: HTTP {status}"
                    f"{': ' + server if server else ''}{hint}",
                    token,
                )
            ) from None
        except _transport_errors() as exc:  # connection refused, DNS, TLS...
            raise HubError(
                scrub_token(f"pushing to {repo_id!r}: cannot reach {constants.ENDPOINT}: {exc}", token)
            ) from None
    return {
        "repo_id": repo,
        "revision": revision or constants.DEFAULT_REVISION,
        "commit_url": str(info.commit_url),
        "commit": info.oid,
        "files": files,
    }
