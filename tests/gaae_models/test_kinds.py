"""The model-kind table: one entry per ``gaae fit --model`` value, read by every module that dispatches."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from gaae_models.config import model_config
from gaae_models.errors import ConfigError
from gaae_models.kinds import KINDS, kinds_publishing, model_kind
from gaae_models.train_config import MODEL_KINDS

TINY = {"ch": 1, "z_dim": 16, "s_dim": 16, "attention": False, "n_classes": 3}


def test_table_names_the_train_config_kinds():
    assert tuple(KINDS) == MODEL_KINDS
    assert all(name == kind.name for name, kind in KINDS.items())


def test_unknown_kind_names_argument_value_and_kinds():
    with pytest.raises(ConfigError, match=r"model='vae' is not a model kind; choose one of gaae, cnn, "):
        model_kind("vae")
    with pytest.raises(ConfigError, match=r"^kind=3 "):
        model_kind(3, argument="kind")


@pytest.mark.parametrize("name", list(KINDS))
def test_inference_networks_and_their_abilities(name):
    kind = KINDS[name]
    cfg = model_config("cpu", **TINY)
    modules = {k: m.eval() for k, m in kind.networks(cfg, 3, tuple(cfg.input_shape)).items()}
    assert ("decoder" in modules) == kind.generates
    x = torch.zeros(2, 1, *cfg.input_shape)
    with torch.no_grad():
        if kind.classifies:
            assert kind.predict(modules, x).shape == (2, 3)
        if kind.encode is not None:
            assert all(v.shape[0] == 2 and v.ndim == 2 for v in kind.encode(modules, x).values())
    assert kind.classifier_name is None or kind.classifies
    assert set(kind.publishes) <= set(modules)


def test_publishing_and_flags():
    assert kinds_publishing("encoder") == kinds_publishing("classifier") == ("gaae",)
    assert [k for k, v in KINDS.items() if v.conditional] == ["gaae", "biggan-supervised"]
    assert [k for k, v in KINDS.items() if not v.uses_labels] == ["biggan-unsupervised"]
    assert KINDS["bigan"].prior_dim == "z_dim" and KINDS["bigan"].probe_at_end


def test_cli_reads_the_table_without_torch():
    code = (
        "import sys; from gaae_cli.gaae_cli import fit; "
        "print([p for p in fit.params if p.name == 'model_kind'][0].type.choices, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{tuple(KINDS)} False"
