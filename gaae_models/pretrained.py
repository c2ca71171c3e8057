"""The GAAE classifier as a pretrained model, and pretrained models straight from a run folder.

The paper's headline model is the classifier C that a few labels train on the guided latent z.
:class:`PretrainedClassifier` is C with a self-describing ``config.json`` (published in
``classifier/`` beside the encoder by ``gaae export`` / ``gaae push``), and
:class:`AudioClassifier` is E_z followed by C, in the shape of transformers'
``AutoModelForAudioClassification``: ``AudioClassifier.from_pretrained(REPO_OR_DIR_OR_RUN)`` then
``predict("clip.wav")`` gives the label and the class probabilities per 1.024 s window and pooled
over the clip (the mean of the window probabilities, i.e. soft voting).

Every ``from_pretrained`` of :mod:`gaae_models` also takes a ``gaae fit`` run folder (its latest
checkpoint, see :func:`model_from_run`), so ``Encoder.from_pretrained("runs/gaae5")`` needs no
export first.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Self

import numpy as np
import torch
from torch import nn

from audiospec.config import SpectrogramConfig
from audiospec.stats import DatasetStats
from gaae_models.config import ModelConfig
from gaae_models.errors import CheckpointError, HubError
from gaae_models.hub_files import is_run_folder
from gaae_models.hub_mixin import HubModelMixin
from gaae_models.kinds import kinds_publishing
from gaae_models.models import Classifier, GuidedEncoder
from gaae_models.pipeline import extract_features
from gaae_models.runs import TrainedRun, as_run

__all__ = [
    "CLASSIFIER_SUBFOLDER",
    "PretrainedClassifier",
    "AudioClassifier",
    "Prediction",
    "classifier_from_run",
    "model_from_run",
    "is_run_folder",
]

#: Folder of the classifier C inside a published repository or an exported folder.
CLASSIFIER_SUBFOLDER: str = "classifier"


class PretrainedClassifier(Classifier, HubModelMixin):
    """The GAAE classifier C(z) (Table XXII) as a pretrained model.

    Parameters
    ----------
    config : ModelConfig
    audio_config : audiospec.SpectrogramConfig, optional
    stats : audiospec.DatasetStats, optional
    label_names : sequence of str, optional
        The class of each logit, in order.

    Shapes
    ------
    z : (B, z_dim) -> logits (B, n_classes)
    """

    _hub_architecture = "Classifier"
    _hub_loads_from = ("Classifier",)

    def __init__(
        self,
        config: ModelConfig,
        *,
        audio_config: SpectrogramConfig | None = None,
        stats: DatasetStats | None = None,
        label_names: Sequence[str] | None = None,
    ) -> None:
        super().__init__(config)
        self._init_hub_metadata(audio_config, stats, label_names)


def classifier_from_run(
    run_dir: str | os.PathLike | TrainedRun, *, checkpoint: str | None = None
) -> PretrainedClassifier:
    """The classifier C of a GAAE run, with its transform, statistics and label names.

    Parameters and errors as for :func:`gaae_models.hub.encoder_from_run`.
    """
    run = as_run(run_dir, checkpoint=checkpoint, kinds=kinds_publishing("classifier"))
    metadata = run.hub_metadata()
    if not metadata["label_names"]:
        raise CheckpointError(f"run {run.run_dir!r} has no label names, so its classifier names nothing")
    classifier = PretrainedClassifier(run.model_config, **metadata)
    classifier.load_state_dict(run.modules["classifier"].state_dict())
    return classifier.eval()


def model_from_run(cls: type, run_dir: str | os.PathLike) -> nn.Module:
    """A pretrained model of class ``cls`` built from a run folder's latest checkpoint.

    Parameters
    ----------
    cls : type
        ``Encoder``, ``GuidedEncoder``, ``StyleEncoder``, ``PretrainedDecoder`` or
        :class:`PretrainedClassifier` (by its ``_hub_architecture``).
    run_dir : path-like
        A GAAE ``gaae fit`` run.

    Returns
    -------
    torch.nn.Module
        In eval mode, on the CPU, with ``audio_config``, ``stats`` and ``label_names``.

    Raises
    ------
    CheckpointError
        Not a GAAE run, or it has no checkpoint.
    HubError
        ``cls`` is not a model a run holds.
    """
    from gaae_models.hub import decoder_from_run, encoder_from_run

    arch = getattr(cls, "_hub_architecture", "")
    if arch == "Encoder":
        return encoder_from_run(run_dir)
    if arch == "GuidedEncoder":
        return encoder_from_run(run_dir).guided_encoder()
    if arch == "StyleEncoder":
        return encoder_from_run(run_dir).style_encoder()
    if arch == "Decoder":
        return decoder_from_run(run_dir)
    if arch == "Classifier":
        return classifier_from_run(run_dir)
    raise HubError(f"{cls.__name__}.from_pretrained cannot load from a run folder ({os.fspath(run_dir)!r})")


@dataclass(frozen=True)
class Prediction:
    """The classifier's output for one clip.

    Attributes
    ----------
    label : str
        The class with the highest pooled probability.
    probabilities : np.ndarray, shape (n_classes,), float32
        Mean of the window probabilities (sums to 1).
    window_probabilities : np.ndarray, shape (n_windows, n_classes), float32
        Softmax of C(E_z(window)) for each window.
    offsets : np.ndarray, shape (n_windows,), float64
        Start of each window in seconds.
    label_names : tuple of str
        The class of each column.
    """

    label: str
    probabilities: np.ndarray
    window_probabilities: np.ndarray
    offsets: np.ndarray
    label_names: tuple[str, ...]

    @property
    def window_labels(self) -> list[str]:
        """The most probable class of each window."""
        return [self.label_names[i] for i in self.window_probabilities.argmax(axis=1)]


class AudioClassifier(nn.Module):
    """E_z followed by C: labels and class probabilities from raw audio.

    Parameters
    ----------
    encoder : GuidedEncoder
        E trunk + E_z, with ``audio_config`` and ``stats``.
    classifier : PretrainedClassifier
        C, with ``label_names``.

    Shapes
    ------
    forward: x (B, 1, F, T) normalised spectrograms -> logits (B, n_classes)
    """

    def __init__(self, encoder: GuidedEncoder, classifier: PretrainedClassifier) -> None:
        super().__init__()
        if not classifier.label_names:
            raise HubError("the classifier has no label_names, so its predictions would name nothing")
        if encoder.config.z_dim != classifier.config.z_dim:
            raise HubError(
                f"the encoder gives z of {encoder.config.z_dim} numbers but the classifier reads "
                f"{classifier.config.z_dim}; they are not from the same model"
            )
        self.encoder = encoder
        self.classifier = classifier
        self.label_names: tuple[str, ...] = tuple(classifier.label_names)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike,
        *,
        revision: str | None = None,
        token: str | bool | None = None,
        cache_dir: str | os.PathLike | None = None,
        local_files_only: bool = False,
        map_location: str | torch.device = "cpu",
    ) -> Self:
        """Load E_z and C from a Hub repository, an exported folder or a GAAE run folder.

        Parameters
        ----------
        model : str or path-like
            ``OWNER/NAME``, a folder written by ``gaae export`` (with ``classifier/``), or a run.
        revision, token, cache_dir, local_files_only, map_location
            As in :meth:`~gaae_models.hub_mixin.HubModelMixin.from_pretrained`.

        Raises
        ------
        HubError
            The repository or folder has no ``classifier/`` (exported before it was published:
            run ``gaae export RUN DIR`` again), or any loading error.
        """
        kwargs: dict[str, Any] = dict(
            revision=revision,
            token=token,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            map_location=map_location,
        )
        encoder = GuidedEncoder.from_pretrained(model, **kwargs)  # a run folder too
        if is_run_folder(model):
            classifier = classifier_from_run(model)
        else:
            try:
                classifier = PretrainedClassifier.from_pretrained(
                    model, subfolder=CLASSIFIER_SUBFOLDER, **kwargs
                )
            except HubError as exc:
                raise HubError(
                    f"{os.fspath(model)!r} has no usable {CLASSIFIER_SUBFOLDER}/ (the classifier C is "
                    f"published by gaae export / gaae push since issue 13; export the run again): {exc}"
                ) from None
        return cls(encoder, classifier).to(map_location).eval()  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.encoder(x))

    @torch.inference_mode()
    def _probabilities(self, z: np.ndarray) -> np.ndarray:
        device = next(self.classifier.parameters()).device
        logits = self.classifier(torch.from_numpy(np.ascontiguousarray(z)).to(device))
        return torch.softmax(logits.float(), dim=1).cpu().numpy()

    def _prediction(self, z: np.ndarray, offsets: np.ndarray) -> Prediction:
        window = self._probabilities(z)
        pooled = window.mean(axis=0, dtype=np.float64).astype(np.float32)
        return Prediction(
            label=self.label_names[int(pooled.argmax())],
            probabilities=pooled,
            window_probabilities=window,
            offsets=offsets,
            label_names=self.label_names,
        )

    def predict(
        self, audio: Any, sample_rate: int | None = None, *, hop: float | None = None, **kwargs: Any
    ) -> Prediction | list[Prediction]:
        """Label and probabilities of one clip (or of each clip of a list / ``(B, n)`` batch).

        Parameters
        ----------
        audio, sample_rate, hop
            As in :meth:`~gaae_models.hub_mixin.EncoderHubMixin.embed` (a waveform at
            ``sample_rate``, a path, or a list of them).
        **kwargs
            ``batch_size``, ``device``, ``precision``, ``fused``, ``workers`` of ``embed``.

        Returns
        -------
        Prediction, or list of Prediction for a batch
        """
        embedded = self.encoder.embed(audio, sample_rate, hop=hop, **kwargs)
        if isinstance(embedded, list):
            return [self._prediction(e.z, e.offsets) for e in embedded]
        return self._prediction(embedded.z, embedded.offsets)

    def predict_files(
        self,
        inputs: Sequence[str | os.PathLike],
        *,
        hop: float | None = None,
        progress: bool = False,
        on_skip: Callable[[str, str], None] | None = None,
        **kwargs: Any,
    ) -> tuple[list[tuple[str, Prediction]], list[tuple[str, str]]]:
        """Predictions for files and folders (recursively), batched across files.

        Parameters
        ----------
        inputs : sequence of path-like
        hop, progress, on_skip, **kwargs
            As in :func:`gaae_models.pipeline.extract_features`.

        Returns
        -------
        predictions : list of (path, Prediction)
            In input order.
        skipped : list of (path, reason)
            Unreadable files.
        """
        features = extract_features(
            self.encoder, inputs, which=("z",), hop=hop, progress=progress, on_skip=on_skip, **kwargs
        )
        out = []
        for i, path in enumerate(features.files):
            rows = features.file_index == i
            out.append((path, self._prediction(features.latents["z"][rows], features.offset_seconds[rows])))
        return out, list(features.skipped)
