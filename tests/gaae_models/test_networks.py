"""Tests of gaae_models.config and gaae_models.models (layers, networks; tiny inputs, CPU)."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from gaae_models.config import PRESETS, ModelConfig, model_config
from gaae_models.errors import ConfigError
from gaae_models.models import (
    BiGANDiscriminator,
    Classifier,
    Decoder,
    Encoder,
    GuidedEncoder,
    LatentDiscriminator,
    SampleDiscriminator,
    SimpleCNN,
    StyleEncoder,
    Trunk,
)
from gaae_models.models.layers import (
    BatchNorm2d,
    ConditionalBatchNorm2d,
    DownBlock,
    SelfAttention,
    UpBlock,
    global_sum_pool,
    init_weights,
    is_spectral_normed,
)

K = 10


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # the tensors here are tiny; on a busy 2-core machine, 2 OpenMP threads are many times slower
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def small() -> ModelConfig:
    return model_config("small")


@pytest.fixture(scope="module")
def paper_nets() -> dict[str, nn.Module]:
    torch.manual_seed(0)
    cfg = model_config("paper")
    return {
        "E": Encoder(cfg),
        "G": Decoder(cfg),
        "C": Classifier(cfg),
        "D_x": SampleDiscriminator(cfg),
        "D_latent": LatentDiscriminator(cfg),
        "D_bigan": BiGANDiscriminator(cfg),
    }


def _batch(b: int, cfg: ModelConfig, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(b, 1, *cfg.input_shape, generator=g) * 2 - 1
    y = F.one_hot(torch.randint(0, cfg.n_classes, (b,), generator=g), cfg.n_classes).float()
    s = torch.randn(b, cfg.s_dim, generator=g)
    return x, y, s


def _n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _weighted(module: nn.Module) -> list[nn.Module]:
    return [m for m in module.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]


# --- config ---------------------------------------------------------------------------------------
def test_presets():
    assert model_config("paper") == ModelConfig()
    paper = model_config("paper")
    assert (paper.ch, paper.z_dim, paper.s_dim, paper.input_shape) == (16, 128, 128, (256, 128))
    small = model_config("small", n_classes=3)
    assert (small.ch, small.z_dim, small.s_dim, small.n_classes) == (2, 128, 128, 3)
    assert set(PRESETS) == {"paper", "small", "cpu"}
    assert paper.bottom_shape == (4, 2)
    assert paper.trunk_channels == (16, 16, 32, 64, 128, 256)
    assert paper.d_trunk_channels == (16, 16, 32, 64, 128, 256)
    assert paper.decoder_channels == (256,) * 6 + (16,)
    cpu = model_config("cpu", n_classes=3)
    assert cpu.trunk_channels == (8, 8, 16, 32, 64, 128) and cpu.pooled_features == 128 + 16 * 32
    assert model_config("cpu", freq_pool_block=None).pooled_features == 128
    assert cpu.d_trunk_channels == (4, 4, 8, 16, 32, 64)
    assert cpu.decoder_channels == (64, 64, 64, 32, 16, 16, 8)
    with pytest.raises(ConfigError, match=r"preset='big'.*\['cpu', 'paper', 'small'\]"):
        model_config("big")
    with pytest.raises(ConfigError, match="unknown ModelConfig override.*'chh'.*valid fields"):
        model_config("small", chh=3)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("ch", 0, "ch=0 must be a positive integer"),
        ("ch", 2.0, "ch=2.0 must be a positive integer"),
        ("ch", True, "ch=True must be a positive integer"),
        ("z_dim", -1, "z_dim=-1"),
        ("s_dim", 0, "s_dim=0"),
        ("n_classes", 1, "n_classes=1 must be an integer >= 2"),
        ("input_shape", (250, 128), r"input_shape=\(250, 128\).*multiples of 64"),
        ("input_shape", (256,), "input_shape"),
        ("input_shape", (0, 128), "input_shape"),
        ("attention", 1, "attention=1 must be True or False"),
        ("encoder_sn", "yes", "encoder_sn='yes'"),
        ("sn_eps", 0.0, "sn_eps=0.0 must be a positive"),
        ("bn_eps", float("nan"), "bn_eps=nan"),
        ("bn_momentum", 0.0, r"bn_momentum=0.0 must be a number in \(0, 1\]"),
        ("bn_momentum", 1.5, "bn_momentum=1.5"),
        ("freq_pool_block", 0, r"freq_pool_block=0 must be null .* from 1 to 6"),
        ("freq_pool_block", 7, "freq_pool_block=7"),
        ("freq_pool_block", 2.0, "freq_pool_block=2.0"),
        ("freq_pool_std", 1, "freq_pool_std=1 must be True or False"),
    ],
)
def test_config_validation(field, value, match):
    with pytest.raises(ConfigError, match=match):
        ModelConfig(**{field: value})


def test_config_round_trip_and_replace():
    cfg = model_config("small", n_classes=3, input_shape=(128, 64), attention=False, sn_eps=1e-6)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    parsed = json.loads(json.dumps(cfg.to_dict()))
    assert parsed["input_shape"] == [128, 64]
    back = ModelConfig.from_dict(parsed)
    assert back == cfg and back.input_shape == (128, 64) and isinstance(back.input_shape, tuple)
    assert ModelConfig.from_dict({}) == ModelConfig()
    with pytest.raises(ConfigError, match=r"unknown ModelConfig field\(s\) \['depth'\]; valid fields are"):
        ModelConfig.from_dict({"ch": 2, "depth": 3})
    with pytest.raises(ConfigError, match="must be a dict"):
        ModelConfig.from_dict([("ch", 2)])
    assert cfg.replace(ch=4).ch == 4 and cfg.replace(ch=4).n_classes == 3
    with pytest.raises(ConfigError, match="ch=0"):
        cfg.replace(ch=0)
    with pytest.raises(ConfigError, match="unknown ModelConfig override"):
        cfg.replace(width=4)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.ch = 3


# --- shapes -----------------------------------------------------------------------------------------
def test_small_shapes(small):
    torch.manual_seed(0)
    x, y, s = _batch(3, small)
    z, s_hat = Encoder(small)(x)
    assert z.shape == (3, small.z_dim) and s_hat.shape == (3, small.s_dim)
    assert GuidedEncoder(small)(x).shape == (3, small.z_dim)
    assert StyleEncoder(small)(x).shape == (3, small.s_dim)
    assert Trunk(small)(x).shape == (3, 16 * small.ch)
    assert Decoder(small)(s, y).shape == (3, 1, 256, 128)
    assert Decoder(small, conditional=False)(s).shape == (3, 1, 256, 128)
    assert Classifier(small)(z).shape == (3, K)
    assert SampleDiscriminator(small)(x, y).shape == (3,)
    assert SampleDiscriminator(small, conditional=False)(x).shape == (3,)
    assert LatentDiscriminator(small)(s).shape == (3,)
    assert BiGANDiscriminator(small)(x, z).shape == (3,)


def test_paper_shapes_and_parameter_counts(paper_nets):
    cfg = model_config("paper")
    x, y, s = _batch(2, cfg)  # E_s ends in a batch norm: training mode needs 2 items
    with torch.no_grad():
        z, s_hat = paper_nets["E"](x)
        assert z.shape == (2, 128) and s_hat.shape == (2, 128)
        assert paper_nets["G"](s, y).shape == (2, 1, 256, 128)
        assert paper_nets["C"](z).shape == (2, K)
        assert paper_nets["D_x"](x, y).shape == (2,)
        assert paper_nets["D_latent"](s).shape == (2,)
        assert paper_nets["D_bigan"](x, z).shape == (2,)
    counts = {name: _n_params(net) for name, net in paper_nets.items()}
    print("paper parameter counts:", counts)
    assert counts == _expected_counts(cfg)
    # the generator carries most of the weights: ~5 up blocks of two 3x3 convs at 256 channels
    assert 6.0e6 < counts["G"] < 7.0e6
    # the paper's E; freq_pool_block (a departure) adds 1024 head inputs for each of z and s
    assert cfg.freq_pool_features == 32 * 32
    assert 1.0e6 < counts["E"] - 2 * 128 * cfg.freq_pool_features < 1.5e6 and 1.0e6 < counts["D_x"] < 1.5e6


def _expected_counts(cfg: ModelConfig) -> dict[str, int]:
    """Parameter counts from the architecture's layer list (weights + biases)."""

    def conv(i, o, k, bias=True):
        return o * i * k * k + (o if bias else 0)

    def linear(i, o, bias=True):
        return i * o + (o if bias else 0)

    def attention(c):
        if not cfg.attention:
            return 0
        qk, v = max(c // 8, 1), max(c // 2, 1)
        return 2 * c * qk + c * v + v * c + 1  # theta, phi, g, o (no biases), gamma

    ch, k = cfg.ch, cfg.n_classes
    widths = (1, ch, ch, 2 * ch, 4 * ch, 8 * ch, 16 * ch)
    trunk = sum(conv(i, o, 3) + conv(o, o, 3) + conv(i, o, 1) for i, o in itertools.pairwise(widths))
    trunk += attention(ch)

    def up(i, o):  # cBN gain + bias linears (K x C, no bias) before each conv
        return 2 * k * i + conv(i, o, 3) + 2 * k * o + conv(o, o, 3) + conv(i, o, 1)

    g = linear(cfg.s_dim, 16 * ch * 4 * 2) + 5 * up(16 * ch, 16 * ch) + up(16 * ch, ch)
    g += attention(16 * ch) + 2 * ch + conv(ch, 1, 3)  # output BN (affine) and conv
    return {
        "E": trunk + linear(cfg.pooled_features, cfg.z_dim) + linear(cfg.pooled_features, cfg.s_dim),
        "G": g,
        "C": linear(cfg.z_dim, 128) + linear(128, k),
        "D_x": trunk + linear(16 * ch, 1) + linear(k, 16 * ch, bias=False),
        "D_latent": linear(cfg.s_dim, 128) + linear(128, 128) + linear(128, 1),
        "D_bigan": trunk + linear(16 * ch + cfg.z_dim, 128) + linear(128, 1),
    }


def test_small_parameter_counts(small):
    nets = {
        "E": Encoder(small),
        "G": Decoder(small),
        "C": Classifier(small),
        "D_x": SampleDiscriminator(small),
        "D_latent": LatentDiscriminator(small),
        "D_bigan": BiGANDiscriminator(small),
    }
    assert {name: _n_params(net) for name, net in nets.items()} == _expected_counts(small)


def test_trunk_downsamples_six_times_and_other_shapes():
    cfg = model_config("small", input_shape=(128, 64), attention=False)
    trunk = Trunk(cfg)
    sizes = []
    for block in trunk.blocks:
        block.register_forward_hook(lambda m, i, o: sizes.append(tuple(o.shape[1:])))
    x, y, s = _batch(2, cfg)
    assert trunk(x).shape == (2, trunk.out_features) and trunk.out_features == 32
    assert sizes == [(2, 64, 32), (2, 32, 16), (4, 16, 8), (8, 8, 4), (16, 4, 2), (32, 2, 1)]
    assert Decoder(cfg)(s, y).shape == (2, 1, 128, 64)
    assert not any(isinstance(m, SelfAttention) for m in Decoder(cfg).modules())


def test_input_validation(small):
    x, y, s = _batch(2, small)
    with pytest.raises(ValueError, match=r"x has shape \(2, 1, 128, 256\); expected \(B, 1, 256, 128\)"):
        Encoder(small)(x.transpose(2, 3))
    with pytest.raises(ValueError, match="conditional"):
        Decoder(small)(s)
    with pytest.raises(ValueError, match=r"y has shape \(2, 3\)"):
        Decoder(small)(s, y[:, :3])
    with pytest.raises(ValueError, match="batch sizes"):
        SampleDiscriminator(small)(x, y[:1])
    with pytest.raises(ConfigError, match="config"):
        Decoder({"ch": 2})


# --- spectral norm and init -----------------------------------------------------------------------
def test_spectral_norm_placement(small):
    legacy = ModelConfig.from_stored({k: v for k, v in small.to_dict().items() if k != "cbn_sn"})
    assert legacy.cbn_sn and not small.cbn_sn
    for net in (
        Decoder(legacy),
        Decoder(small, conditional=False),
        SampleDiscriminator(small),
        LatentDiscriminator(small),
        BiGANDiscriminator(small),
        Encoder(small),
    ):
        layers = _weighted(net)
        assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers), type(net)
        assert all(is_spectral_normed(m) for m in layers)
    # format-1 runs: spectrally normalised class embeddings; now plain ones (BigGAN-PyTorch)
    cbn = [m for m in Decoder(legacy).modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 12 and all(is_spectral_normed(m.gain) and is_spectral_normed(m.bias) for m in cbn)
    decoder = Decoder(small)
    cbn = [m for m in decoder.modules() if isinstance(m, ConditionalBatchNorm2d)]
    assert len(cbn) == 12 and not any(parametrize.is_parametrized(m.gain) for m in cbn)
    embeddings = {id(m.gain) for m in cbn} | {id(m.bias) for m in cbn}
    assert all(is_spectral_normed(m) for m in _weighted(decoder) if id(m) not in embeddings)
    for net in (SimpleCNN(3), Classifier(small), Encoder(small.replace(encoder_sn=False))):
        layers = _weighted(net)
        assert layers and not any(parametrize.is_parametrized(m, "weight") for m in layers), type(net)


def test_orthogonal_init(small):
    torch.manual_seed(0)
    d = LatentDiscriminator(small)
    w = d.fc2.parametrizations.weight.original
    assert torch.allclose(w @ w.T, torch.eye(128), atol=1e-5)
    w = d.fc1.parametrizations.weight.original  # (128, s_dim=128)
    assert torch.allclose(w @ w.T, torch.eye(128), atol=1e-5)
    conv = Decoder(small).blocks[0].conv1.parametrizations.weight.original.flatten(1)  # (32, 288)
    assert torch.allclose(conv @ conv.T, torch.eye(conv.shape[0]), atol=1e-5)
    c = Classifier(small)
    assert torch.allclose(c.hidden.weight @ c.hidden.weight.T, torch.eye(128), atol=1e-5)
    assert all(m.bias is None or not m.bias.any() for m in _weighted(Decoder(small)))
    # the power-iteration vectors are refreshed after init: sigma(orthogonal) = 1, so in eval mode
    # the normalised weight equals the original
    d.eval()
    assert torch.allclose(d.fc2.weight, d.fc2.parametrizations.weight.original, atol=1e-5)
    lin = init_weights(nn.Linear(20, 6))
    assert torch.allclose(lin.weight @ lin.weight.T, torch.eye(6), atol=1e-5) and not lin.bias.any()


# --- conditioning -----------------------------------------------------------------------------------
def test_conditional_batch_norm_formula():
    torch.manual_seed(0)
    cbn = ConditionalBatchNorm2d(6, 4, eps=1e-5, momentum=0.1).eval()
    cbn.bn.running_mean.uniform_(-1, 1)
    cbn.bn.running_var.uniform_(0.5, 2)
    x, y = torch.randn(3, 6, 4, 2), torch.softmax(torch.randn(3, 4), dim=1)
    x_hat = (x - cbn.bn.running_mean.view(1, -1, 1, 1)) / torch.sqrt(
        cbn.bn.running_var.view(1, -1, 1, 1) + 1e-5
    )
    gain = 1 + y @ cbn.gain.weight.T
    bias = y @ cbn.bias.weight.T
    expected = x_hat * gain[:, :, None, None] + bias[:, :, None, None]
    assert torch.allclose(cbn(x, y), expected, atol=1e-5)
    with pytest.raises(ValueError, match="needs the labels"):
        cbn(x)
    bn = BatchNorm2d(6).eval()
    assert torch.allclose(bn(x, y), bn(x)) and torch.allclose(bn(x), x / (1 + 1e-5) ** 0.5)


@pytest.mark.parametrize("train", [True, False])
def test_decoder_conditions_on_y(small, train):
    torch.manual_seed(0)
    g = Decoder(small).train(train)
    _, y, s = _batch(4, small)
    y2 = torch.roll(y, 1, dims=1)
    with torch.no_grad():
        out1, out2 = g(s, y), g(s, y2)
    assert (out1 - out2).abs().max() > 1e-3


def test_unconditional_decoder_ignores_y(small):
    torch.manual_seed(0)
    g = Decoder(small, conditional=False).eval()
    _, y, s = _batch(2, small)
    assert not any(isinstance(m, ConditionalBatchNorm2d) for m in g.modules())
    with torch.no_grad():
        assert torch.equal(g(s, y), g(s, None)) and torch.equal(g(s, y), g(s, 1 - y))


def test_decoder_output_range(small):
    torch.manual_seed(0)
    g = Decoder(small).eval()
    _, y, s = _batch(2, small)
    with torch.no_grad():
        out = g(100 * s, y)
    assert out.min() >= -1 and out.max() <= 1 and out.abs().max() > 0.9


# --- blocks against explicit formulas -----------------------------------------------------------
def _reference_attention(att: SelfAttention, x: torch.Tensor) -> torch.Tensor:
    """BigGAN-PyTorch layers.Attention.forward, written with bmm and softmax."""
    b, _c, f, t = x.shape
    theta = att.theta(x).view(b, -1, f * t)
    phi = F.max_pool2d(att.phi(x), 2).view(b, -1, f * t // 4)
    g = F.max_pool2d(att.g(x), 2).view(b, -1, f * t // 4)
    beta = F.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)
    o = att.o(torch.bmm(g, beta.transpose(1, 2)).view(b, -1, f, t))
    return x + att.gamma * o


@pytest.mark.parametrize(("channels", "sn"), [(16, True), (32, False), (2, True), (12, True)])
def test_self_attention(channels, sn):
    torch.manual_seed(0)
    att = SelfAttention(channels, sn=sn).eval()
    init_weights(att)
    x = torch.randn(2, channels, 8, 6)
    assert torch.equal(att(x), x)  # gamma starts at 0
    with torch.no_grad():
        att.gamma.fill_(0.7)
    out = att(x)
    assert not torch.allclose(out, x)
    assert torch.allclose(out, _reference_attention(att, x), atol=1e-5)
    out.sum().backward()
    assert att.gamma.grad is not None
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in att.theta.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_self_attention_cuda():
    torch.manual_seed(0)
    att = SelfAttention(16).eval().cuda()
    with torch.no_grad():
        att.gamma.fill_(0.5)
    x = torch.randn(2, 16, 128, 64, device="cuda")  # the trunk's attention at 128 x 64
    with torch.no_grad():
        # fp32 goes through the memory-efficient kernel, bf16 through flash attention
        assert torch.allclose(att(x), _reference_attention(att, x), atol=1e-3)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            assert torch.allclose(att(x).float(), _reference_attention(att, x).float(), atol=2e-2)


def test_up_block_formula():
    torch.manual_seed(0)
    blk = UpBlock(4, 6, n_classes=3).eval()
    x, y = torch.randn(2, 4, 4, 2), torch.eye(3)[[0, 2]]

    def up(h):
        return h.repeat_interleave(2, dim=2).repeat_interleave(2, dim=3)

    h = blk.conv1(up(F.relu(blk.bn1(x, y))))
    h = blk.conv2(F.relu(blk.bn2(h, y)))
    assert torch.allclose(blk(x, y), h + blk.conv_sc(up(x)), atol=1e-6)
    assert blk(x, y).shape == (2, 6, 8, 4)


@pytest.mark.parametrize("preactivation", [True, False])
def test_down_block_formula(preactivation):
    torch.manual_seed(0)
    blk = DownBlock(3, 5, preactivation=preactivation).eval()
    x = torch.randn(2, 3, 8, 4)
    h = F.relu(x) if preactivation else x
    h = F.avg_pool2d(blk.conv2(F.relu(blk.conv1(h))), 2)
    sc = F.avg_pool2d(blk.conv_sc(x), 2) if preactivation else blk.conv_sc(F.avg_pool2d(x, 2))
    assert torch.allclose(blk(x), h + sc, atol=1e-6)
    same = DownBlock(4, 4, downsample=False).eval()
    assert same.conv_sc is None and same(torch.randn(1, 4, 6, 4)).shape == (1, 4, 6, 4)


def test_global_sum_pool():
    h = torch.tensor([[[[1.0, -2.0], [3.0, 0.5]]]])
    assert torch.equal(global_sum_pool(h), torch.tensor([[4.5]]))


def test_projection_head(small):
    torch.manual_seed(0)
    d = SampleDiscriminator(small).eval()
    x, y, _ = _batch(3, small)
    y = torch.softmax(torch.randn(3, K), dim=1)  # soft labels work too
    with torch.no_grad():
        h = d.trunk(x)
        expected = h @ d.linear.weight.T + d.linear.bias + ((y @ d.embed.weight.T) * h).sum(1, keepdim=True)
        assert torch.allclose(d(x, y), expected.squeeze(1), atol=1e-4)
        u = SampleDiscriminator(small, conditional=False).eval()
        assert u.embed is None
        assert torch.allclose(u(x), (u.trunk(x) @ u.linear.weight.T + u.linear.bias).squeeze(1))


def test_bigan_discriminator_formula(small):
    torch.manual_seed(0)
    d = BiGANDiscriminator(small).eval()
    x, _, e = _batch(2, small)
    with torch.no_grad():
        h = torch.cat([d.trunk(x), e], dim=1)
        assert torch.allclose(d(x, e), d.out(F.relu(d.joint(h))).squeeze(1))


# --- encoder parts ------------------------------------------------------------------------------
@pytest.mark.parametrize("block", [1, 3, 6])
def test_freq_pool_block_against_a_slow_reference(block):
    """The pooled features are [global sum pool of the last block, block k's ReLU output averaged
    over time (channel-major)], checked against a per-element loop; the heads, E_z / E_s, the fused
    inference plan and the discriminator (global pool only) follow the width."""
    from gaae_models.models.fused import build_inference_plan

    cfg = model_config("small", input_shape=(128, 64), attention=False, z_dim=8, s_dim=8)
    cfg = dataclasses.replace(cfg, freq_pool_block=block)
    width = cfg.trunk_channels[block - 1] * (128 // 2**block)
    assert cfg.pooled_features == 32 + width and cfg.freq_pool_features == width
    torch.manual_seed(0)
    enc = Encoder(cfg).eval()
    x, _, _ = _batch(3, cfg)
    outs = []
    hook = enc.trunk.blocks[block - 1].register_forward_hook(lambda m, i, o: outs.append(o))
    with torch.no_grad():
        h = enc.trunk(x)
    hook.remove()
    assert h.shape == (3, enc.trunk.out_features) and enc.trunk.out_features == cfg.pooled_features
    last = h[:, :32]
    ref = outs[0].relu()
    c_k, f_k, t_k = ref.shape[1:]
    for b in range(3):
        for c in range(0, c_k, 3):
            for f in range(0, f_k, 5):
                want = sum(float(ref[b, c, f, t]) for t in range(t_k)) / t_k
                assert float(h[b, 32 + c * f_k + f]) == pytest.approx(want, rel=1e-5, abs=1e-7)
    with torch.no_grad():
        plain = Trunk(cfg, sn=cfg.encoder_sn)
        plain.load_state_dict(enc.trunk.state_dict())
        assert torch.allclose(plain.eval()(x), last, atol=1e-5)  # the global pool is unchanged
        z, s = enc(x)
        plan = build_inference_plan(enc, ("z", "s"), torch.device("cpu"), True)
        fused = plan(x)
        assert torch.allclose(fused["z"], z, atol=1e-4) and torch.allclose(fused["s"], s, atol=1e-4)
        assert torch.equal(enc.style_encoder()(x), s)
    assert SampleDiscriminator(cfg).trunk.out_features == cfg.d_trunk_channels[-1]
    for bad in (0, 7, 2.0, True):  # a Trunk built directly validates it as the config does
        with pytest.raises(ConfigError, match=f"freq_pool_block={bad!r} must be None or an integer"):
            Trunk(cfg, freq_pool_block=bad)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    assert _n_params(Encoder(cfg)) == _expected_counts(cfg)["E"] == cfg.parameter_counts()["encoder"]


def test_encoder_parts_match(small):
    torch.manual_seed(0)
    enc = Encoder(small).eval()
    x, _, _ = _batch(2, small)
    with torch.no_grad():
        z, s = enc(x)
        assert torch.equal(enc.encode_z(x), z) and torch.equal(enc.encode_s(x), s)
        e_z, e_s = enc.guided_encoder(), enc.style_encoder()
        assert isinstance(e_z, GuidedEncoder) and isinstance(e_s, StyleEncoder)
        assert e_z.trunk is enc.trunk and e_z.head_z is enc.head_z  # shared, not copied
        assert torch.equal(e_z(x), z) and torch.equal(e_s(x), s)
        state = enc.state_dict()
        assert {key.split(".")[0] for key in state} == {"trunk", "head_z", "head_s"}
        fresh_z, fresh_s = GuidedEncoder(small).eval(), StyleEncoder(small).eval()
        fresh_z.load_state_dict({k: v for k, v in state.items() if not k.startswith("head_s.")})
        fresh_s.load_state_dict({k: v for k, v in state.items() if not k.startswith("head_z.")})
        assert torch.allclose(fresh_z(x), z, atol=1e-6) and torch.allclose(fresh_s(x), s, atol=1e-6)
        assert set(fresh_z.state_dict()) | set(fresh_s.state_dict()) == set(state)


# --- copies and state dicts (checkpoints, EMA) -------------------------------------------------
def test_decoder_deepcopy_and_state_dict(small):
    torch.manual_seed(0)
    g = Decoder(small)
    _, y, s = _batch(2, small)
    g(s, y)  # one training forward: updates BN statistics and the power-iteration vectors
    g.eval()
    ema = copy.deepcopy(g)
    other = Decoder(small)
    other.load_state_dict(g.state_dict())
    other.eval()
    with torch.no_grad():
        out = g(s, y)
        assert torch.equal(ema(s, y), out) and torch.allclose(other(s, y), out, atol=1e-6)


# --- simple CNN ----------------------------------------------------------------------------------
def test_simple_cnn():
    torch.manual_seed(0)
    net = SimpleCNN(3, channels=(4, 8, 8, 16), dropout=0.25)
    x = torch.rand(2, 1, 256, 128) * 2 - 1
    assert net(x).shape == (2, 3) and net.features(x).shape == (2, 16) and net.out_features == 16
    full = SimpleCNN(10)
    assert [s[0].out_channels for s in full.stages] == [32, 64, 128, 256]
    assert _n_params(full) == 9 * (32 + 32 * 64 + 64 * 128 + 128 * 256) + 2 * 480 + 256 * 10 + 10
    for kwargs, match in [
        (dict(n_classes=1), "n_classes=1"),
        (dict(n_classes=3, channels=()), "channels=()"),
        (dict(n_classes=3, channels=(8, 0)), "channels="),
        (dict(n_classes=3, input_shape=(8, 128)), r"input_shape=\(8, 128\).*>= 16"),
        (dict(n_classes=3, dropout=1.0), "dropout=1.0"),
        (dict(n_classes=3, channels=16), "channels=16"),
        (dict(n_classes=3, input_shape=256), "input_shape=256"),
    ]:
        with pytest.raises(ConfigError, match=match):
            SimpleCNN(**kwargs)
    with pytest.raises(ValueError, match="expected"):
        net(torch.zeros(1, 1, 128, 256))


def test_freq_pool_std_against_a_slow_reference():
    """``freq_pool_std`` appends block k's ReLU map's population std over time (channel-major) after
    its time average, checked per element; the widths, the heads, the fused plan and the stored
    config follow, a map constant in time gets a finite gradient, and the option needs a block."""
    from gaae_models.config import LEGACY_DEFAULTS, PAPER_MODEL_SETTINGS
    from gaae_models.models.fused import build_inference_plan
    from gaae_models.models.networks import STD_EPS

    base = model_config("small", input_shape=(128, 64), attention=False, z_dim=8, s_dim=8)
    cfg = dataclasses.replace(base, freq_pool_block=3, freq_pool_std=True)
    width = cfg.trunk_channels[2] * (128 // 8)
    assert cfg.freq_pool_features == 2 * width and cfg.pooled_features == 32 + 2 * width
    torch.manual_seed(0)
    enc = Encoder(cfg).eval()
    x, _, _ = _batch(3, cfg)
    outs = []
    hook = enc.trunk.blocks[2].register_forward_hook(lambda m, i, o: outs.append(o))
    with torch.no_grad():
        h = enc.trunk(x)
    hook.remove()
    assert h.shape == (3, cfg.pooled_features) == (3, enc.trunk.out_features)
    ref = outs[0].relu().double()
    c_k, f_k, t_k = ref.shape[1:]
    for b in range(3):
        for c in range(0, c_k, 3):
            for f in range(0, f_k, 5):
                row = [float(ref[b, c, f, t]) for t in range(t_k)]
                mean = sum(row) / t_k
                std = (sum((v - mean) ** 2 for v in row) / t_k + STD_EPS) ** 0.5
                assert float(h[b, 32 + c * f_k + f]) == pytest.approx(mean, rel=1e-5, abs=1e-7)
                assert float(h[b, 32 + width + c * f_k + f]) == pytest.approx(std, rel=1e-4, abs=1e-6)
    with torch.no_grad():
        z, s = enc(x)
        fused = build_inference_plan(enc, ("z", "s"), torch.device("cpu"), True)(x)
    assert torch.allclose(fused["z"], z, atol=1e-4) and torch.allclose(fused["s"], s, atol=1e-4)
    assert _n_params(Encoder(cfg)) == cfg.parameter_counts()["encoder"]
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    # a silent input gives constant maps: the std's gradient must stay finite
    silent = torch.zeros(2, 1, 128, 64, requires_grad=True)
    enc.train()
    enc.trunk(silent).sum().backward()
    assert torch.isfinite(silent.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)
    # off by default, as the paper and the runs stored before the field
    assert base.freq_pool_std is False and LEGACY_DEFAULTS["freq_pool_std"] is False
    assert PAPER_MODEL_SETTINGS["freq_pool_std"] is False
    with pytest.raises(ConfigError, match="freq_pool_std=True needs a freq_pool_block"):
        dataclasses.replace(base, freq_pool_block=None, freq_pool_std=True)
    with pytest.raises(ConfigError, match="freq_pool_std=True needs a freq_pool_block"):
        Trunk(base, freq_pool_std=True)
