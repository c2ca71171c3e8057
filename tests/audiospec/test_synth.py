import numpy as np
import pytest

import audiospec
from audiospec import ParameterError, synth


@pytest.mark.parametrize("family", ["guitar", "string", "mallet"])
def test_notes_have_their_pitch_and_are_seeded(family):
    y = synth.synth_note(family, 69, duration=1.024, rng=1)
    assert y.dtype == np.float32 and y.shape == (16384,) and np.max(np.abs(y)) == pytest.approx(0.8, rel=1e-5)
    spectrum = np.abs(np.fft.rfft(y[:8192] * np.hanning(8192)))
    assert abs(np.argmax(spectrum) * 16000 / 8192 - 440.0) < 4.0  # fundamental is the loudest partial
    np.testing.assert_array_equal(y, synth.synth_note(family, 69, duration=1.024, rng=1))


def test_families_differ_in_decay():
    cfg = audiospec.SpectrogramConfig()
    energy = {}
    for family in synth.FAMILIES:
        logmag = audiospec.stft_logmag(synth.synth_note(family, 60, duration=1.024, rng=0), config=cfg)
        frame_energy = np.exp(2 * logmag).sum(axis=0)
        energy[family] = frame_energy[100] / frame_energy[10]
    assert energy["mallet"] < energy["guitar"] < energy["string"]  # struck decays fastest, bowed sustains


def test_bad_arguments():
    with pytest.raises(ParameterError, match="family='piano'"):
        synth.synth_note("piano", 60)
    with pytest.raises(ParameterError, match="pitch=200"):
        synth.synth_note("guitar", 200)
