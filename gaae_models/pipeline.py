"""Features (z, s) from raw audio: windows, the cache's preprocessing, a threaded pipeline, ``.npz`` files.

``encoder.embed(waveform, sample_rate)`` (or a path) follows the audiospec cache exactly:

1. the audio is read as mono float32 and resampled to ``audio_config.sample_rate`` (16 kHz) with
   :func:`audiospec.resample` (:func:`audiospec.load_audio` for paths);
2. it is cut into windows of ``audio_config.n_samples`` samples (16384 = 1.024 s, the cache's
   clip) starting at ``0, hop, 2 hop, ...`` until every sample is covered
   (:func:`audiospec.preprocessor.window_starts`);
   the last window, and a clip shorter than one window, are **zero-padded at the end** (as the
   cache's ``start`` crop pads short files);
3. each window becomes :func:`audiospec.stft_logmag` with the stored transform, then
   :func:`audiospec.normalize` with the stored statistics, exactly the cache's ``spectrograms``;
4. batches of windows go through the encoder; every window gives one vector and each file one
   mean-pooled vector.

So a window embedded from audio equals the encoder applied to the cache's spectrogram of the same
crop. By default the encoder runs its inference form (``fused=True``, :mod:`gaae_models.models.fused`),
equal to the module's own forward up to float rounding (about 1e-6 relative); ``fused=False`` runs
the module's own forward.

:func:`extract_features` (behind ``gaae features``) batches windows across files: one thread
decodes and preprocesses while ``workers`` threads run whole batches through the network; on the
CPU that is one single-threaded forward pass per core (torch's intra-op threads are set to 1
during the call and restored afterwards), which needs no synchronisation between cores and keeps
its speed when the cores are shared. :func:`~gaae_models.feature_sets.save_features` writes the
result as an ``.npz`` without pickles.
"""

from __future__ import annotations

import logging
import os
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.nn.utils import parametrize

from audiospec.errors import AudiospecError
from audiospec.io import load_audio
from audiospec.preprocessor import Preprocessor, frame_windows, iter_windows, window_starts
from audiospec.readers import AUDIO_EXTENSIONS
from audiospec.runtime import n_cores
from gaae_models.errors import ConfigError
from gaae_models.feature_sets import Embedding, FeatureSet, pooled_mean
from gaae_models.models.fused import build_inference_plan
from gaae_models.validation import (
    check_precision,
    check_which,
    hop_samples,
    positive_int,
    preprocessor_of,
    resolve_device,
)

if TYPE_CHECKING:
    from gaae_models.hub_mixin import EncoderHubMixin

__all__ = [
    "WindowRunner",
    "Extractor",
    "window_starts",
    "iter_windows",
    "frame_windows",
    "list_audio_files",
    "extract_features",
]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# the extraction pipeline


@dataclass
class _Pending:
    n_windows: int
    duration: float
    latents: dict[str, np.ndarray] = field(default_factory=dict)
    received: int = 0


def _put(q: queue.Queue, item: Any, stop: threading.Event) -> bool:
    """Put into a bounded queue unless ``stop`` is set meanwhile."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.05)
            return True
        except queue.Full:
            continue
    return False


class WindowRunner:
    """Windows of audio -> normalised spectrograms -> latents, with validated settings.

    The part :class:`Extractor` and :class:`~gaae_models.batch.WindowEncoder` share: the model's
    preprocessing (:func:`audiospec.stft_logmag`, then :func:`audiospec.normalize` with its
    statistics, exactly as the cache) and its inference plan (:mod:`gaae_models.models.fused`) on
    ``device``, under bfloat16 autocast when ``precision="bfloat16"``.

    Parameters
    ----------
    model : Encoder, GuidedEncoder or StyleEncoder
        With ``audio_config`` and ``stats``.
    which, batch_size, device, precision, fused
        As in :meth:`~gaae_models.hub_mixin.EncoderHubMixin.embed`.
    """

    def __init__(
        self,
        model: EncoderHubMixin,
        *,
        which: Any = None,
        batch_size: Any = 64,
        device: Any = None,
        precision: Any = "float32",
        fused: bool = True,
    ) -> None:
        self.preprocessor: Preprocessor = preprocessor_of(model)
        self.audio_config, self.stats = self.preprocessor.config, self.preprocessor.stats
        self.window = self.preprocessor.window
        self.sample_rate = self.preprocessor.sample_rate
        self.which = check_which(which, model.outputs)
        self.batch_size = positive_int("batch_size", batch_size)
        self.precision = check_precision(precision)
        self.device = resolve_device(device, next(model.parameters()).device)  # type: ignore[attr-defined]
        self.fused = bool(fused)
        self.plan = build_inference_plan(model, self.which, self.device, self.fused)

    def preprocess(self, windows: np.ndarray) -> np.ndarray:
        """``(B, n_samples)`` float32 -> normalised ``(B, F, T)`` float32, exactly as the cache."""
        return self.preprocessor.spectrograms(windows)

    def run_plan(self, spectrograms: np.ndarray) -> dict[str, torch.Tensor]:
        """``(B, F, T)`` normalised spectrograms -> ``{name: (B, dim)}`` latents on :attr:`device`."""
        x = torch.from_numpy(np.ascontiguousarray(spectrograms, dtype=np.float32)).unsqueeze(1)
        x = x.to(self.device, non_blocking=True)
        if self.fused:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.precision == "bfloat16"):
            return self.plan(x)


class Extractor(WindowRunner):
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
        super().__init__(
            model, which=which, batch_size=batch_size, device=device, precision=precision, fused=fused
        )
        self.hop = hop_samples(hop, self.sample_rate, self.window)
        if workers is None:
            workers = n_cores() if self.device.type == "cpu" else 1
        self.workers = positive_int("workers", workers)

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
            for index, segment in enumerate(iter_windows(y, window=self.window, hop=self.hop)):
                pending.append(segment)
                owners.append((key, index))
                if len(pending) == self.batch_size:
                    yield flush()
        if pending:
            yield flush()

    def _forward(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return {k: v.float().cpu().numpy() for k, v in self.run_plan(batch).items()}

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

    extractor = Extractor(
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
        empty = np.zeros((0, dim), np.float32)
        pooled[name] = np.stack([pooled_mean(v) for v in per_file]) if per_file else empty
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
