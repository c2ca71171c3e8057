"""Fault injection (issue 12): damaged checkpoints and absurd model configs fail early and clearly."""

import hashlib
import json
import os
import tracemalloc
import warnings

import pytest
import torch
from click.testing import CliRunner

from gaae_cli.gaae_cli import main as gaae_main
from gaae_models.checkpoint import (
    CheckpointWarning,
    latest_checkpoint,
    load_checkpoint,
    resume_checkpoint,
    save_checkpoint,
    verify_checkpoint,
)
from gaae_models.config import ModelConfig
from gaae_models.errors import CheckpointError, ConfigError
from tests.gaae_models.helpers import TINY_FIT_ARGS

FILES = ("model.safetensors", "optim.safetensors", "optim.json", "meta.json", "checksums.json")


def truncate(path):
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)


def empty(path):
    open(path, "wb").close()


def corrupt(path):
    """Flip bytes in the middle: same size, still parses where the format has no checksum."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        mid = len(data) // 2
        for i in range(mid, min(mid + 4, len(data))):
            data[i] ^= 0x5A
        f.seek(0)
        f.write(bytes(data))


DAMAGE = {"truncate": truncate, "empty": empty, "corrupt": corrupt}


def tiny_modules():
    torch.manual_seed(0)
    net = torch.nn.Linear(8, 4)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    net(torch.randn(2, 8)).sum().backward()
    opt.step()
    return {"net": net}, {"opt": opt}


@pytest.fixture
def run_dir(tmp_path):
    modules, optimizers = tiny_modules()
    for step in (1, 2):
        save_checkpoint(str(tmp_path), step, modules=modules, optimizers=optimizers, meta={"x": 1})
    return str(tmp_path)


def step_dir(run_dir, step):
    return os.path.join(run_dir, "checkpoints", f"step-{step:07d}")


def test_intact_checkpoints_verify_and_resume_from_the_newest(run_dir):
    for step in (1, 2):
        assert verify_checkpoint(step_dir(run_dir, step))["step"] == step
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resume_checkpoint(run_dir) == step_dir(run_dir, 2)


def test_a_run_without_checkpoints_starts_fresh(tmp_path):
    assert resume_checkpoint(str(tmp_path)) is None


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_file_is_a_clear_error_and_resume_falls_back(run_dir, name, how):
    newest = step_dir(run_dir, 2)
    DAMAGE[how](os.path.join(newest, name))
    modules, optimizers = tiny_modules()
    with pytest.raises(CheckpointError, match=name.replace(".", r"\.")):
        verify_checkpoint(newest)
    with pytest.raises(CheckpointError):
        load_checkpoint(newest, modules=modules, optimizers=optimizers)
    with pytest.warns(CheckpointWarning, match="step-0000002") as record:
        assert resume_checkpoint(run_dir) == step_dir(run_dir, 1)
    assert "resuming from step-0000001" in str(record[0].message)
    assert load_checkpoint(step_dir(run_dir, 1), modules=modules, optimizers=optimizers)["step"] == 1


@pytest.mark.parametrize("name", ["model.safetensors", "optim.json", "meta.json"])
def test_a_missing_file_is_skipped(run_dir, name):
    os.remove(os.path.join(step_dir(run_dir, 2), name))
    with pytest.warns(CheckpointWarning, match=f"no {name}"):
        assert resume_checkpoint(run_dir) == step_dir(run_dir, 1)


@pytest.mark.parametrize("how", sorted(DAMAGE))
def test_a_damaged_pointer_warns_and_the_newest_intact_checkpoint_is_used(run_dir, how):
    pointer = os.path.join(run_dir, "checkpoints", "latest")
    DAMAGE[how](pointer)
    if how == "corrupt":  # the pointer is tiny; make sure it names nothing that exists
        with open(pointer, "wb") as f:
            f.write(b"step-00\xff\xfe0002")
    with pytest.warns(CheckpointWarning, match="latest is damaged"):
        assert resume_checkpoint(run_dir) == step_dir(run_dir, 2)
    with pytest.raises(CheckpointError, match="latest"):
        latest_checkpoint(run_dir)


def test_no_intact_checkpoint_is_an_error_naming_each(run_dir):
    truncate(os.path.join(step_dir(run_dir, 2), "model.safetensors"))
    empty(os.path.join(step_dir(run_dir, 1), "meta.json"))
    with pytest.raises(CheckpointError, match="no intact checkpoint") as info:
        resume_checkpoint(run_dir)
    assert "step-0000002" in str(info.value) and "step-0000001" in str(info.value)


def test_old_checkpoints_without_checksums_still_load_and_truncation_is_caught(run_dir):
    for step in (1, 2):
        os.remove(os.path.join(step_dir(run_dir, step), "checksums.json"))
    modules, optimizers = tiny_modules()
    assert load_checkpoint(step_dir(run_dir, 2), modules=modules, optimizers=optimizers)["step"] == 2
    truncate(os.path.join(step_dir(run_dir, 2), "optim.safetensors"))
    with pytest.warns(CheckpointWarning, match="optim.safetensors"):
        assert resume_checkpoint(run_dir) == step_dir(run_dir, 1)


FIT_ARGS = [*TINY_FIT_ARGS, "--set", "train.checkpoint_every=1", "--threads", "1"]


@pytest.mark.slow
def test_fit_resume_skips_a_truncated_checkpoint(tiny_data, tmp_path):
    out = str(tmp_path / "run")
    args = ["fit", tiny_data["train"], "--out", out, *FIT_ARGS]
    result = CliRunner().invoke(gaae_main, args)
    assert result.exit_code == 0, result.output
    truncate(os.path.join(step_dir(out, 2), "model.safetensors"))
    result = CliRunner().invoke(gaae_main, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    assert "skipping damaged checkpoint step-0000002" in result.output
    assert json.loads(result.output.strip().splitlines()[-1])["resumed_from"] == 1
    verify_checkpoint(step_dir(out, 2))  # rewritten whole
    # a run folder whose (consistent, checksummed) meta.json asks for an absurd model
    from gaae_models.runs import load_run

    assert load_run(out, device="auto").kind == "gaae"
    meta_path = os.path.join(step_dir(out, 2), "meta.json")
    meta = json.loads(open(meta_path).read())
    meta["model"]["ch"] = 10**7
    meta["model"]["encoder_channels"] = None
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    sums_path = os.path.join(step_dir(out, 2), "checksums.json")
    sums = json.loads(open(sums_path).read())
    sums["meta.json"] = hashlib.sha256(open(meta_path, "rb").read()).hexdigest()
    with open(sums_path, "w") as f:
        json.dump(sums, f)
    with pytest.raises(CheckpointError, match="invalid model config: ch=10000000 is too large"):
        load_run(out)
    for step in (1, 2):
        empty(os.path.join(step_dir(out, step), "meta.json"))
    result = CliRunner().invoke(gaae_main, [*args, "--resume"])
    assert result.exit_code == 2
    assert result.output.startswith("Error: no intact checkpoint") and "Traceback" not in result.output


# --- model configs are bounded before anything is allocated ------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ch", 10**7),
        ("z_dim", 10**6),
        ("s_dim", 10**6),
        ("n_classes", 10**8),
        ("input_shape", (2**20, 128)),
        ("encoder_channels", (8, 8, 16, 32, 64, 10**6)),
        ("generator_channels", (10**6, 64, 64, 32, 16, 16, 8)),
    ],
)
def test_an_absurd_size_names_the_field(field, value):
    with pytest.raises(ConfigError, match=f"{field}=.*too large"):
        ModelConfig(**{field: value})


def test_the_parameter_ceiling_is_computed_from_the_config():
    # every field in range, but together about 1e10 parameters: refused before any allocation
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match=r"about .* parameters .*ceiling of 1e\+09.*ch=1000"):
            ModelConfig(ch=1000)
        assert tracemalloc.get_traced_memory()[1] < 10**7
    finally:
        tracemalloc.stop()
    paper = ModelConfig()  # the paper's model is far below the ceiling
    assert 5 * 10**6 < sum(paper.parameter_counts().values()) < 2 * 10**7


def test_parameter_counts_match_the_built_networks():
    from gaae_models import models

    cfg = ModelConfig(ch=2, z_dim=16, s_dim=12, n_classes=3)
    built = {
        "encoder": models.Encoder(cfg),
        "decoder": models.Decoder(cfg),
        "classifier": models.Classifier(cfg),
        "d_x": models.SampleDiscriminator(cfg),
        "d_latent": models.LatentDiscriminator(cfg),
    }
    for name, estimate in cfg.parameter_counts().items():
        actual = sum(p.numel() for p in built[name].parameters())
        assert abs(estimate - actual) <= 0.02 * actual, (name, estimate, actual)


def test_a_hub_config_with_a_huge_width_is_a_clear_error_without_allocating(tmp_path):
    from audiospec import SpectrogramConfig
    from audiospec.stats import DatasetStats
    from gaae_models import Encoder
    from gaae_models.errors import HubError
    from gaae_models.hub import load_encoder

    folder = tmp_path / "enc"
    cfg = ModelConfig(ch=1, z_dim=16, s_dim=12, attention=False)
    stats = DatasetStats(mean=0.0, std=1.0, r=3.0, upper=3.0)
    Encoder(cfg, audio_config=SpectrogramConfig(), stats=stats).save_pretrained(folder)
    data = json.loads((folder / "config.json").read_text())
    data["config"]["ch"] = 10**7
    data["config"]["encoder_channels"] = None
    (folder / "config.json").write_text(json.dumps(data))
    tracemalloc.start()
    try:
        with pytest.raises(HubError, match=r"key 'config' is invalid: ch=10000000 is too large"):
            load_encoder(folder)
        assert tracemalloc.get_traced_memory()[1] < 5 * 10**7
    finally:
        tracemalloc.stop()
