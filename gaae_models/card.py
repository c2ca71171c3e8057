"""The model card (README.md) of a published or exported GAAE run: YAML metadata and a markdown body.

The metadata follows https://huggingface.co/docs/hub/model-cards: ``library_name`` is the Python
package that loads the model (``gaae-audio``, which provides ``gaae_models`` and ``audiospec``),
``pipeline_tag: feature-extraction``, audio tags and, when given, the training ``datasets``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from gaae_models.hub_files import LIBRARY_NAME, PAPER_URL
from gaae_models.report import fmt

__all__ = ["CARD_TAGS", "INSTALL_LINE", "MIXIN_CARD_TEMPLATE", "model_card"]

#: How to install the package that loads the model (``library_name`` of the card).
INSTALL_LINE: str = (
    f"pip install '{LIBRARY_NAME}[models]'"
    "   # gaae_models and audiospec; in a checkout: pip install -e '.[models]'"
)

#: The card ``save_pretrained`` writes for a network saved on its own (jinja, rendered by huggingface_hub).
MIXIN_CARD_TEMPLATE: str = """---
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

CARD_TAGS = (
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
        guidance = f"labelled fraction {fmt(1.0 if fraction is None else float(fraction), 3)}"
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
    if train.get("ema_encoder_decay"):
        lines.append(
            f"* Weights of E and C: their exponential moving average over training (decay "
            f"{train['ema_encoder_decay']}), not the last step's."
        )
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
        f"| classifier accuracy (test) | {fmt(entry.get('accuracy'))} |",
        f"| Inception score | {fmt(entry.get('inception_score'), 2)} |",
        f"| FID | {fmt(entry.get('fid'), 2)} |",
    ]
    if entry.get("labelled_fraction") is not None:
        lines.append(f"| labelled fraction | {fmt(float(entry['labelled_fraction']))} |")
    return lines


def _eval_results(entry: dict[str, Any] | None) -> list[Any]:
    """The report's test accuracy, FID and IS as the card's machine-readable ``model-index``."""
    from huggingface_hub import EvalResult

    if entry is None:
        return []
    test_cache = entry.get("test_cache") or "test split"
    dataset = {
        "dataset_type": "audiospec-cache",
        "dataset_name": os.path.basename(os.path.normpath(test_cache)),
        "dataset_split": "test",
    }
    out = []
    if entry.get("accuracy") is not None:
        out.append(
            EvalResult(
                task_type="audio-classification",
                metric_type="accuracy",
                metric_value=float(entry["accuracy"]),
                **dataset,
            )
        )
    for key, metric in (("fid", "fid"), ("inception_score", "inception_score")):
        value = entry.get(key)
        if isinstance(value, dict) and value.get("mean") is not None:
            out.append(
                EvalResult(
                    task_type="audio-generation",
                    metric_type=metric,
                    metric_value=float(value["mean"]),
                    **dataset,
                )
            )
    return out


def model_card(
    *,
    repo_id: str,
    record: dict[str, Any],
    meta: dict[str, Any],
    report_entry: dict[str, Any] | None,
    with_decoder: bool,
    with_classifier: bool = False,
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
    with_classifier : bool
        Whether ``classifier/`` (the classifier C on z) is published.
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
        model_name=repo_id,
        eval_results=_eval_results(report_entry) or None,
        library_name=LIBRARY_NAME,
        license=license_id,
        pipeline_tag="feature-extraction",
        tags=list(CARD_TAGS),
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
        + (
            " The classifier C (trained on z with the labelled fraction below) is in `classifier/`: "
            "`AudioClassifier` (E_z + C) predicts labels from audio."
            if with_classifier
            else ""
        )
        + (" The decoder G(s, y) is in `decoder/` (`PretrainedDecoder`)." if with_decoder else ""),
        "",
        "## Installation",
        "",
        "```bash",
        INSTALL_LINE,
        "```",
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
        "A padded batch (speechbrain's `encode_batch`; torch in, torch out) and the HEAR 2021 API:",
        "",
        "```python",
        "vectors = encoder.encode_batch(wavs, wav_lens)  # (B, T) at 16 kHz, lengths in (0, 1] -> (B, dim)",
        "from gaae_models import hear",
        f'model = hear.load_model("{repo_id}")            # timestamps every 50 ms, scene = pooled windows',
        "```",
        "",
        "Many files at once (batched, with a progress bar), written to an `.npz`:",
        "",
        "```bash",
        f"gaae features --model {repo_id} audio_folder/ --out features.npz --which z,s",
        "```",
    ]
    if with_classifier:
        body += [
            "",
            "Labels from audio with the classifier C (per window and pooled over the file):",
            "",
            "```python",
            "from gaae_models.pretrained import AudioClassifier",
            "",
            f'classifier = AudioClassifier.from_pretrained("{repo_id}")',
            'prediction = classifier.predict("clip.wav")  # .label, .probabilities, .window_probabilities',
            "```",
            "",
            "```bash",
            f"gaae predict --model {repo_id} audio_folder/ --out predictions.csv",
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
        f"training statistics (mean {fmt(stats.get('mean'), 4)}, std {fmt(stats.get('std'), 4)} nepers), "
        f"clipped to [-{fmt(stats.get('r'), 3)}, {fmt(stats.get('upper'), 3)}] standard deviations and "
        "scaled to [-1, 1]. All of it is stored in `config.json` and applied by `embed`, exactly as the "
        "`audiospec` cache does.",
        "",
        "## Files",
        "",
        "`config.json` (architecture, transform, statistics, label names) and `model.safetensors`"
        + (", and the same for the classifier in `classifier/`" if with_classifier else "")
        + (", and for the decoder in `decoder/`" if with_decoder else "")
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
