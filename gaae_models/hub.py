"""Publishing trained GAAE runs on the Hugging Face Hub (``gaae push``) and loading them back.

A published repository holds

* ``config.json`` + ``model.safetensors``: the encoder E (trunk, heads E_z and E_s), with the
  architecture, the audiospec transform, the dataset statistics and the label names (see
  :mod:`gaae_models.features`). ``Encoder.from_pretrained(REPO)`` gives z and s,
  ``GuidedEncoder.from_pretrained(REPO)`` z only (E trunk + E_z), ``StyleEncoder.from_pretrained(REPO)``
  s only (E trunk + E_s);
* ``decoder/config.json`` + ``decoder/model.safetensors`` (``--with-decoder``): the generator
  G(s, y), as :class:`PretrainedDecoder` (``subfolder="decoder"``);
* ``README.md``: a model card (training data, labelled fraction, evaluation numbers when a report
  is given, usage, license, tags, ``library_name: gaae-models``, ``pipeline_tag: feature-extraction``).

Tokens come from huggingface_hub's usual places (``HF_TOKEN``, the token file of ``hf auth login``)
or the ``token`` argument, and never appear in cards, configs, logs or error messages.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import torch

import gaae_models
from audiospec._atomic import atomic_write_text
from audiospec.config import SpectrogramConfig
from audiospec.stats import DatasetStats
from gaae_models.checkpoint import latest_checkpoint, load_checkpoint
from gaae_models.config import ModelConfig
from gaae_models.errors import CheckpointError, ConfigError, HubError
from gaae_models.features import (
    LIBRARY_NAME,
    PAPER_URL,
    HubModelMixin,
    _resolve,
    _scrub,
    read_hub_config,
)
from gaae_models.networks import Decoder, Encoder, GuidedEncoder, StyleEncoder

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
]

#: Folder of the decoder inside a published repository.
DECODER_SUBFOLDER: str = "decoder"
#: The encoder classes by their ``architecture`` name in ``config.json``.
ENCODER_CLASSES: dict[str, type] = {
    "Encoder": Encoder,
    "GuidedEncoder": GuidedEncoder,
    "StyleEncoder": StyleEncoder,
}
_CARD_TAGS = (
    "audio",
    "audio-representation-learning",
    "feature-extraction",
    "representation-learning",
    "gaae",
    "guided-adversarial-autoencoder",
    "pytorch",
    "safetensors",
    "model_hub_mixin",
    "pytorch_model_hub_mixin",
)


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
        Hub repository ``OWNER/NAME`` or a folder.
    revision, token, cache_dir, local_files_only, map_location
        As in :meth:`~gaae_models.features.HubModelMixin.from_pretrained`.

    Returns
    -------
    Encoder, GuidedEncoder or StyleEncoder, in eval mode.

    Raises
    ------
    HubError
        See :meth:`~gaae_models.features.HubModelMixin.from_pretrained`; also when the model is
        not an encoder (a decoder, say).
    """
    resolved = _resolve(
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


def _read_json(path: str, what: str) -> dict[str, Any]:
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise CheckpointError(f"{what} {path!r} does not exist") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {what} {path!r}: {exc}") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{what} {path!r} does not hold a JSON object")
    return data


def _run_checkpoint(run_dir: str, checkpoint: str | None) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """The run record, the checkpoint folder and its meta.json; refuses runs other than GAAE."""
    run_dir = os.fspath(run_dir)
    if not os.path.isdir(run_dir):
        raise CheckpointError(f"run folder {run_dir!r} does not exist")
    record = _read_json(os.path.join(run_dir, "config.json"), "run config")
    if checkpoint is None:
        path = latest_checkpoint(run_dir)
        if path is None:
            raise CheckpointError(f"run {run_dir!r} has no checkpoint (checkpoints/latest is missing)")
    else:
        path = checkpoint if os.path.isdir(checkpoint) else os.path.join(run_dir, "checkpoints", checkpoint)
        if not os.path.isdir(path):
            raise CheckpointError(
                f"checkpoint={checkpoint!r} is neither a folder nor a checkpoint of {run_dir!r}"
            )
    meta = _read_json(os.path.join(path, "meta.json"), "checkpoint meta")
    kind = meta.get("model_kind", record.get("model_kind"))
    if kind != "gaae":
        raise CheckpointError(
            f"run {run_dir!r} has model_kind={kind!r}; only 'gaae' runs have the encoder E with both heads "
            "(E_z -> z, E_s -> s) that gaae push publishes"
        )
    for key in ("model", "audio_config", "stats"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {path!r}: meta.json lacks {key!r}")
    return record, path, meta


def _metadata(meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "audio_config": SpectrogramConfig.from_dict(meta["audio_config"]),
        "stats": DatasetStats.from_dict({k: v for k, v in meta["stats"].items() if k != "partial"}),
        "label_names": meta.get("label_names"),
    }


def encoder_from_run(run_dir: str | os.PathLike, *, checkpoint: str | None = None) -> Encoder:
    """The trained encoder E of a GAAE run, with its transform, statistics and label names.

    Parameters
    ----------
    run_dir : path-like
        A folder written by ``gaae fit`` (model kind ``gaae``).
    checkpoint : str, optional
        A checkpoint folder (path, or name under ``RUN/checkpoints``) [default: the latest].

    Returns
    -------
    Encoder
        In eval mode, on the CPU, ready for :meth:`~Encoder.save_pretrained` and ``embed``.

    Raises
    ------
    CheckpointError
        No run or checkpoint there, or the run is not a GAAE run.
    """
    _, path, meta = _run_checkpoint(os.fspath(run_dir), checkpoint)
    encoder = Encoder(ModelConfig.from_stored(meta["model"]), **_metadata(meta))
    load_checkpoint(path, modules={"encoder": encoder})
    return encoder.eval()


def decoder_from_run(run_dir: str | os.PathLike, *, checkpoint: str | None = None) -> PretrainedDecoder:
    """The trained decoder G of a GAAE run (its EMA copy when the run kept one).

    Parameters and errors as for :func:`encoder_from_run`.
    """
    _, path, meta = _run_checkpoint(os.fspath(run_dir), checkpoint)
    decoder = PretrainedDecoder(ModelConfig.from_stored(meta["model"]), conditional=True, **_metadata(meta))
    from safetensors import safe_open

    with safe_open(os.path.join(path, "model.safetensors"), framework="pt") as f:
        name = "ema_decoder" if any(k.startswith("ema_decoder.") for k in f.keys()) else "decoder"
    load_checkpoint(path, modules={name: decoder})
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
            return entry
    listed = [e.get("run_dir") for e in runs if isinstance(e, dict)]
    raise ConfigError(f"the report {path!r} has no entry for the run {target!r} (it lists {listed})")


# --------------------------------------------------------------------------------------------------
# model card


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, dict):
        mean, std = value.get("mean"), value.get("std")
        if mean is None:
            return "n/a"
        return f"{mean:.{digits}f} ± {std:.{digits}f}" if std is not None else f"{mean:.{digits}f}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _training_section(record: dict[str, Any], meta: dict[str, Any]) -> list[str]:
    data = record.get("data") or {}
    train = record.get("train") or meta.get("train") or {}
    names = meta.get("label_names") or data.get("label_names") or []
    cache = data.get("cache")
    reader = None
    if cache and os.path.isdir(cache):
        try:
            from audiospec.cache import open_cache

            reader = open_cache(cache).reader
        except Exception:  # provenance only: a moved or rebuilt cache must not block a push
            reader = None
    lines = ["## Training data", ""]
    where = f"`{os.path.basename(os.fspath(cache).rstrip('/'))}`" if cache else "an audiospec cache"
    items = data.get("cache_items")
    source = f" ({items} clips" + (f", dataset reader `{reader}`)" if reader else ")") if items else ""
    lines.append(f"* Data: the audiospec spectrogram cache {where}{source}, trained with `gaae fit`.")
    lines.append(f"* Classes ({len(names)}): {', '.join(f'`{n}`' for n in names) or 'n/a'}.")
    fraction = data.get("labelled_fraction", train.get("labelled_fraction"))
    n_labelled = data.get("n_labelled")
    if data.get("labelled_cache"):
        guidance = f"labels from a separate cache (`{os.path.basename(data['labelled_cache'])}`)"
    else:
        guidance = f"labelled fraction {_fmt(1.0 if fraction is None else float(fraction), 3)}"
    per_class = data.get("per_class_labelled")
    lines.append(
        f"* Guidance: {guidance}"
        + (f", {n_labelled} labelled clips" if n_labelled is not None else "")
        + (
            " (" + ", ".join(f"{k}: {v}" for k, v in per_class.items()) + ")"
            if isinstance(per_class, dict)
            else ""
        )
        + "."
    )
    model = meta.get("model") or {}
    lines.append(
        f"* Architecture: preset `{record.get('preset') or 'custom'}` (ch={model.get('ch')}, "
        f"z_dim={model.get('z_dim')}, s_dim={model.get('s_dim')}, attention={model.get('attention')})."
    )
    lines.append(f"* Training: {meta.get('step', '?')} steps of batch {train.get('batch_size', '?')}.")
    departures = record.get("departures_from_paper") or {}
    changed = [
        f"{table}.{key}={values[1]!r} (paper {values[0]!r})"
        for table, fields in departures.items()
        for key, values in fields.items()
    ]
    if changed:
        lines.append("* Departures from the paper: " + ", ".join(changed) + ".")
    return lines


def _evaluation_section(entry: dict[str, Any] | None) -> list[str]:
    lines = ["## Evaluation", ""]
    if entry is None:
        lines.append("There is no evaluation report for this model (none was given to `gaae push --report`).")
        return lines
    lines += [
        f"From the `gaae evaluate` report (run `{entry.get('name', '?')}`):",
        "",
        "| metric | value |",
        "|---|---:|",
        f"| classifier accuracy (test) | {_fmt(entry.get('accuracy'))} |",
        f"| Inception score | {_fmt(entry.get('inception_score'), 2)} |",
        f"| FID | {_fmt(entry.get('fid'), 2)} |",
    ]
    if entry.get("labelled_fraction") is not None:
        lines.append(f"| labelled fraction | {_fmt(float(entry['labelled_fraction']))} |")
    return lines


def model_card(
    *,
    repo_id: str,
    record: dict[str, Any],
    meta: dict[str, Any],
    report_entry: dict[str, Any] | None,
    with_decoder: bool,
    license_id: str = "mit",
    datasets: Sequence[str] = (),
) -> str:
    """The README.md of a published run: YAML metadata and a markdown body.

    Parameters
    ----------
    repo_id : str
        ``OWNER/NAME``, used in the usage snippet.
    record : dict
        The run's ``config.json``.
    meta : dict
        The checkpoint's ``meta.json``.
    report_entry : dict or None
        The run's entry of a ``gaae evaluate`` report; None writes "no evaluation report".
    with_decoder : bool
        Whether ``decoder/`` is published.
    license_id : str
        A Hub license identifier. Default ``"mit"``.
    datasets : sequence of str
        Hub dataset ids for the ``datasets`` metadata.

    Returns
    -------
    str
    """
    from huggingface_hub import ModelCardData

    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=license_id,
        pipeline_tag="feature-extraction",
        tags=list(_CARD_TAGS),
        datasets=list(datasets) or None,
    )
    audio = meta.get("audio_config") or {}
    stats = meta.get("stats") or {}
    z_dim = (meta.get("model") or {}).get("z_dim")
    s_dim = (meta.get("model") or {}).get("s_dim")
    body = [
        f"# GAAE encoder: {repo_id}",
        "",
        "The encoder of a Guided Adversarial Autoencoder (GAAE; Haque, Rana & Schuller, *High-Fidelity "
        "Audio Generation and Representation Learning with Guided Adversarial Autoencoder*, IEEE Access "
        f"2020, {PAPER_URL}), trained with `gaae_models` (Python package `gaae-audio`). It maps 1.024 s "
        "of 16 kHz audio to",
        "",
        f"* **z** ({z_dim} numbers): the *guided* representation (head E_z), shaped by the labels;",
        f"* **s** ({s_dim} numbers): the *style* representation (head E_s), the label-independent rest.",
        "",
        "One weight file serves three classes: `Encoder` (z and s), `GuidedEncoder` (E trunk + E_z -> z) and "
        "`StyleEncoder` (E trunk + E_s -> s)."
        + (" The decoder G(s, y) is in `decoder/` (`PretrainedDecoder`)." if with_decoder else ""),
        "",
        *_training_section(record, meta),
        "",
        *_evaluation_section(report_entry),
        "",
        "## Usage",
        "",
        "```python",
        "from gaae_models import Encoder, GuidedEncoder, StyleEncoder",
        "",
        f'encoder = Encoder.from_pretrained("{repo_id}")',
        'features = encoder.embed("clip.wav")          # any length and sample rate; or embed(waveform, sr)',
        "features.z, features.s                          # (n_windows, dim), one per 1.024 s window",
        "features.z_mean, features.s_mean                # mean over the windows",
        f'z_only = GuidedEncoder.from_pretrained("{repo_id}")',
        "```",
        "",
        "Many files at once (batched, with a progress bar), written to an `.npz`:",
        "",
        "```bash",
        f"gaae features --model {repo_id} audio_folder/ --out features.npz --which z,s",
        "```",
    ]
    if with_decoder:
        body += [
            "",
            "Generation with the decoder (normalised spectrograms, then audio by phase reconstruction):",
            "",
            "```python",
            "import audiospec, torch",
            "from gaae_models.hub import PretrainedDecoder",
            "",
            f'decoder = PretrainedDecoder.from_pretrained("{repo_id}", subfolder="decoder")',
            "y = torch.eye(decoder.config.n_classes)                # one clip per class",
            "x = decoder(torch.randn(len(y), decoder.config.s_dim), y)",
            "spec = x[:, 0].detach().numpy()",
            "audio = audiospec.reconstruct(spec, config=decoder.audio_config, stats=decoder.stats)",
            "```",
        ]
    body += [
        "",
        "## Preprocessing",
        "",
        f"Audio is resampled to {audio.get('sample_rate')} Hz and cut into windows of "
        f"{audio.get('n_samples')} samples (hop configurable, default one window); the last window, and "
        "clips shorter than one window, are zero-padded. Each window becomes an STFT log-magnitude "
        f"(periodic {audio.get('window')} window of {audio.get('win_length')}, n_fft {audio.get('n_fft')}, "
        f"hop {audio.get('hop_length')}, circular frames, Nyquist row dropped), standardised with the "
        f"training statistics (mean {_fmt(stats.get('mean'), 4)}, std {_fmt(stats.get('std'), 4)} nepers), "
        f"clipped to [-{_fmt(stats.get('r'), 3)}, {_fmt(stats.get('upper'), 3)}] standard deviations and "
        "scaled to [-1, 1]. All of it is stored in `config.json` and applied by `embed`, exactly as the "
        "`audiospec` cache does.",
        "",
        "## Files",
        "",
        "`config.json` (architecture, transform, statistics, label names) and `model.safetensors`"
        + (", and the same for the decoder in `decoder/`" if with_decoder else "")
        + ". No pickles.",
        "",
        "## License",
        "",
        f"`{license_id}`.",
        "",
        "## Citation",
        "",
        "```bibtex",
        "@article{haque2020gaae,",
        "  title   = {High-Fidelity Audio Generation and Representation Learning with",
        "             Guided Adversarial Autoencoder},",
        '  author  = {Haque, Kazi Nazmul and Rana, Rajib and Schuller, Bj{\\"o}rn W.},',
        "  journal = {IEEE Access},",
        "  year    = {2020}",
        "}",
        "```",
        "",
    ]
    return f"---\n{card_data.to_yaml()}\n---\n\n" + "\n".join(body)


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
) -> str:
    """Write the folder ``gaae push`` uploads: encoder, optional decoder, model card.

    The folder is built beside ``out_dir`` and renamed into place.

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

    Returns
    -------
    str
        ``out_dir`` as an absolute path.
    """
    run_dir = os.path.abspath(os.fspath(run_dir))
    out = os.path.abspath(os.fspath(out_dir))
    if os.path.exists(out) and (not os.path.isdir(out) or os.listdir(out)) and not overwrite:
        raise ConfigError(f"out_dir={out!r} exists and is not empty; pass overwrite=True to replace it")
    record, path, meta = _run_checkpoint(run_dir, checkpoint)
    entry = read_report_entry(report_dir, run_dir) if report_dir is not None else None
    encoder = encoder_from_run(run_dir, checkpoint=path)
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.tmp-", dir=parent)
    try:
        card = model_card(
            repo_id=repo_id,
            record=record,
            meta=meta,
            report_entry=entry,
            with_decoder=with_decoder,
            license_id=license_id,
            datasets=datasets,
        )
        atomic_write_text(os.path.join(tmp, "README.md"), card)
        encoder.save_pretrained(tmp)
        if with_decoder:
            decoder_from_run(run_dir, checkpoint=path).save_pretrained(os.path.join(tmp, DECODER_SUBFOLDER))
            os.remove(os.path.join(tmp, DECODER_SUBFOLDER, "README.md"))  # one card, at the top
        if os.path.exists(out):
            trash = f"{tmp}.old"
            os.replace(out, trash)
            os.replace(tmp, out)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
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
        files = sorted(
            os.path.relpath(os.path.join(root, f), folder).replace(os.sep, "/")
            for root, _, names in os.walk(folder)
            for f in names
        )
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
                _scrub(
                    f"pushing to {repo_id!r} on {constants.ENDPOINT} failed: HTTP {status}"
                    f"{': ' + server if server else ''}{hint}",
                    token,
                )
            ) from None
        except _transport_errors() as exc:  # connection refused, DNS, TLS...
            raise HubError(
                _scrub(f"pushing to {repo_id!r}: cannot reach {constants.ENDPOINT}: {exc}", token)
            ) from None
    return {
        "repo_id": repo,
        "revision": revision or constants.DEFAULT_REVISION,
        "commit_url": str(info.commit_url),
        "commit": info.oid,
        "files": files,
    }
