"""``gaae fit``'s progress in a log: plain lines (no carriage-return redraws), steps counted."""

from __future__ import annotations

import io

from audiospec.progress import progress_bar
from gaae_models.config import model_config
from gaae_models.train_config import TrainConfig
from gaae_models.training import fit


def test_fit_progress_is_one_line_per_update_when_not_a_terminal(tiny_data, tmp_path, capfd):
    fit(
        tiny_data["train"],
        str(tmp_path / "cnn"),
        model_config=model_config("small", ch=1, z_dim=16, s_dim=16, attention=False),
        train=TrainConfig(model="cnn", steps=3, batch_size=4, eval_every=3),
        device="cpu",
        progress=True,
    )
    err = capfd.readouterr().err
    assert "\r" not in err
    lines = [x for x in err.splitlines() if x.startswith("gaae fit (cnn)")]
    assert lines and "3/3" in lines[-1] and "step" in lines[-1]


def test_resumed_progress_starts_at_the_steps_already_done():
    stream = io.StringIO()
    bar = progress_bar(10, desc="job", unit="step", stream=stream, initial=4)
    bar.update(6)
    bar.close()
    out = stream.getvalue()
    assert "\r" not in out and out.splitlines()[0].startswith("job:  40%") and "10/10" in out.splitlines()[-1]
