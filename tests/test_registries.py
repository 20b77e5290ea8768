"""The name tables: a toy encoder, model config and data set reader registered from outside the
package work end to end; unknown names are one clear line listing the known ones; the
network's output reads like the dict it replaced."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mobrecon.data.kinds import KINDS, detect_kind, register_reader
from mobrecon.data.mixed import open_dataset, open_mixture
from mobrecon.models import (CONFIGS, ENCODERS, Encoder, MobReconOutput, build, build_encoder, register_config,
                             register_encoder)
from mobrecon.models.mobrecon_net import MobReconConfig
from mobrecon.registry import Registry, UnknownNameError, parse_names


def test_registry_lookup_and_errors():
    reg = Registry("fruit")
    reg.register("apple", 1)

    @reg.register("pear")
    def pear():
        return 2

    assert list(reg) == ["apple", "pear"] and reg["pear"] is pear and "apple" in reg and "plum" not in reg
    assert reg.get("plum") is None and len(reg) == 2
    with pytest.raises(UnknownNameError) as e:
        reg["plum"]
    assert str(e.value) == "unknown fruit 'plum'; choose from apple, pear"
    assert isinstance(e.value, KeyError) and isinstance(e.value, ValueError)
    with pytest.raises(ValueError, match="'apple' is already registered"):
        reg.register("apple", 3)
    reg.register("apple", 1)  # the same object again (a re-imported module) is fine
    with pytest.raises(ValueError, match="without commas"):
        reg.register("a,b", 4)
    assert parse_names(" pear,apple,pear ", reg, "--fruit") == ["pear", "apple"]
    with pytest.raises(ValueError, match="^--fruit: unknown fruit 'plum'; choose from apple, pear$"):
        parse_names("apple,plum", reg, "--fruit")
    with pytest.raises(ValueError, match="no fruit named"):
        parse_names(",", reg, "--fruit")
    assert reg.unregister("pear") is pear and list(reg) == ["apple"]


def test_shipped_encoders_are_registered_encoders():
    assert set(ENCODERS) >= {"densestack", "ghoststack", "resnet18stack", "mobilenetstack"}
    assert all(issubclass(cls, Encoder) for cls in ENCODERS.values())
    with pytest.raises(ValueError, match=r"^unknown encoder 'nope'; choose from densestack, ghoststack"):
        build_encoder("nope")
    with pytest.raises(ValueError, match="unknown encoder 'nope'"):
        build("mobrecon_ghoststack", encoder="nope")
    with pytest.raises(TypeError, match="not a subclass"):
        register_encoder("not_an_encoder")(nn.Conv2d)


class ToyEncoder(Encoder):
    """F_e by 32x average pooling, the map by 8x: (B, 3, 128, 128) -> ((B, C, 4, 4), (B, 24, 16, 16))."""

    def __init__(self, latent_ch: int = 256, out_ch: int = 24):
        super().__init__()
        self.out_ch, self.latent_ch = out_ch, latent_ch
        self.latent = nn.Conv2d(3, latent_ch, 1)
        self.map: nn.Module | None = nn.Conv2d(3, out_ch, 1)

    def forward(self, x, with_map=True):
        latent = self.latent(F.avg_pool2d(x, 32))
        if not with_map:
            return latent
        if self.map is None:
            raise self.no_map_error()
        return latent, self.map(F.avg_pool2d(x, 8))

    def map_part_modules(self):
        return [self.map] if self.map is not None else []

    def drop_map_part(self):
        self.map = None


@pytest.fixture
def toy_encoder():
    register_encoder("toy_test_encoder")(ToyEncoder)
    register_config("toy_test_model", MobReconConfig(encoder="toy_test_encoder", latent_ch=32))
    yield
    ENCODERS.unregister("toy_test_encoder")
    CONFIGS.unregister("toy_test_model")


def test_a_registered_encoder_builds_a_model(toy_encoder):
    torch.manual_seed(0)
    net = build("toy_test_model").eval()
    assert isinstance(net.encoder, ToyEncoder) and net.encoder.latent_ch == 32
    assert net.encoder.encoder_num_params() == 3 * 32 + 32
    out = net(torch.randn(2, 3, 128, 128))
    assert out["vertices"].shape == (2, 778, 3) and out.joints2d.shape == (2, 21, 2)
    reg = build("toy_test_model", pose2d="regression")  # drops the map part
    assert reg.encoder.map is None and reg(torch.randn(1, 3, 128, 128))["uv"].shape == (1, 21, 2)
    with pytest.raises(RuntimeError, match="without its map path"):
        reg.encoder(torch.randn(1, 3, 128, 128))
    with pytest.raises(ValueError, match="'toy_test_model' is already registered"):
        register_config("toy_test_model", MobReconConfig())


def test_output_reads_like_a_dict():
    t = {k: torch.full((1, 21, 2), float(i)) for i, k in enumerate(("uv", "joints2d", "vertices", "joints3d"))}
    out = MobReconOutput(**t)
    assert out.keys() == ["uv", "joints2d", "vertices", "joints3d"] and list(out) == out.keys() and len(out) == 4
    assert out["joints2d"] is out.joints2d and out.get("vertices") is out.vertices
    assert "heatmaps" not in out and out.get("heatmaps") is None and out.get("heatmaps", 5) == 5
    with pytest.raises(KeyError):
        out["heatmaps"]
    assert dict(out).keys() == {**out}.keys() == set(out.keys())
    assert [k for k, _ in out.items()] == out.keys() and out.values()[3] is out.joints3d
    with_maps = dataclasses.replace(out, heatmaps=torch.zeros(1, 21, 32, 32))
    assert "heatmaps" in with_maps and with_maps.keys()[-1] == "heatmaps"
    # a pytree node: DistributedDataParallel and the exporters see the tensors inside
    leaves, spec = torch.utils._pytree.tree_flatten(with_maps)
    assert len(leaves) == 5 and all(torch.is_tensor(x) for x in leaves)
    again = torch.utils._pytree.tree_unflatten([x + 1 for x in leaves], spec)
    assert isinstance(again, MobReconOutput) and float(again.uv[0, 0, 0]) == 1.0


def test_network_returns_typed_output():
    torch.manual_seed(0)
    net = build("densestack_heatmap_jointpool_pvl_dsconv").eval()
    with torch.no_grad():
        out = net(torch.randn(1, 3, 128, 128))
    assert isinstance(out, MobReconOutput) and out.keys() == ["uv", "joints2d", "vertices", "joints3d", "heatmaps"]
    assert out["heatmaps"].shape == (1, 21, 32, 32)
    assert torch.allclose(out.joints2d, out.uv * 128 - 0.5)


class ToySet(torch.utils.data.Dataset):
    """Three numbered items per split; ``scale`` is an option only this reader takes."""

    def __init__(self, root, split="train", scale=1):
        self.root, self.split, self.scale = root, split, scale

    def __len__(self):
        return 3

    def __getitem__(self, i):
        return {"split": self.split, "value": i * self.scale}


@pytest.fixture
def toy_kind():
    register_reader("toytest", train="train", evaluation="test",
                    markers={"train": "toy_train.txt", "test": "toy_test.txt"})(ToySet)
    yield
    KINDS.unregister("toytest")


def test_a_registered_reader_opens_from_specs(toy_kind, tmp_path):
    root = tmp_path / "toy"
    root.mkdir()
    (root / "toy_test.txt").write_text("")
    assert detect_kind(root) == "toytest"
    only_test = open_dataset(str(root))  # the bare folder: its kind from the marker, the split on disk
    assert isinstance(only_test, ToySet) and only_test.split == "test"
    (root / "toy_train.txt").write_text("")
    assert open_dataset(f"toytest:{root}").split == "train"
    assert open_dataset(f"toytest:{root}:evaluation", scale=2)[2] == {"split": "test", "value": 4}
    mix = open_mixture(f"toytest:{root}=0.7,{root}:test=0.3", length=10, scale=5)
    assert [d.split for d in mix.datasets] == ["train", "test"] and mix.datasets[0].scale == 5
    assert sum(mix.locate(i)[0] == 0 for i in range(10)) == 7


def test_unknown_kind_and_layout_are_one_line(tmp_path):
    with pytest.raises(ValueError, match=r"^'nokind:/x': 'nokind' is neither a folder nor a data set kind "
                                         r"\(closeups, freihand, hagrid, ho3d, pseudo, rhd, signers, synth\)"):
        open_dataset("nokind:/x")
    with pytest.raises(ValueError, match=r"unknown data set layout \(looked for freihand: training_K.json") as e:
        detect_kind(tmp_path)
    assert "\n" not in str(e.value) and "synth: shard_*/annotations.npz" in str(e.value)


def _result():
    from mobrecon.data.crop import CropBox
    from mobrecon.infer.predictor import HandResult

    rng = np.random.default_rng(0)
    return HandResult(vertices=rng.normal(size=(5, 3)).astype(np.float32) + [0, 0, 1],
                      faces=np.array([[0, 1, 2], [2, 3, 4]]), joints3d=np.zeros((21, 3), np.float32),
                      joints2d=np.zeros((21, 2), np.float32), root=np.zeros(3, np.float32),
                      box=np.array([0, 0, 8, 8], np.float32), crop=CropBox(4, 4, 8), K=np.eye(3), K_given=False,
                      image_size=(8, 8), extra={"model": "toy"})


@pytest.fixture
def toy_writer():
    from mobrecon.infer.outputs import WRITERS, register_writer

    @register_writer("toytxt", "_toy.txt", "the vertex count")
    def _toy(hand):
        text = f"{hand.name}: {len(hand.result.vertices)} vertices\n"
        return lambda tmp: tmp.write_text(text)

    yield
    WRITERS.unregister("toytxt")


def test_a_registered_writer_writes(toy_writer, tmp_path):
    from mobrecon.infer.outputs import output_paths, render_outputs, write_outputs

    image = np.zeros((8, 8, 3), np.uint8)
    paths = write_outputs(tmp_path, "a", image, _result(), writers=["toytxt", "obj"])
    assert [p.name for p in paths] == ["a_toy.txt", "a.obj"] == [p.name for p in output_paths(tmp_path, "a",
                                                                                             writers=["toytxt", "obj"])]
    assert (tmp_path / "a_toy.txt").read_text() == "a: 5 vertices\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.obj", "a_toy.txt"]
    # the defaults: four files, two without the pictures (made without a renderer)
    assert [p.name for p in output_paths(tmp_path, "b")] == ["b.obj", "b.json", "b_overlay.png", "b_side.png"]
    assert list(render_outputs(tmp_path, "b", image, _result(), overlays=False)) == output_paths(tmp_path, "b", False)
    frame = render_outputs(tmp_path, "f", image, _result(), writers=["json"], frame=True)[tmp_path / "f.json"]
    frame(tmp_path / "f.json")
    assert (tmp_path / "f.json").read_text().count("\n") == 1 and "mobrecon_version" not in (tmp_path / "f.json").read_text()
    with pytest.raises(ValueError, match="^unknown output writer 'nope'; choose from obj, json, overlay, side, toytxt$"):
        render_outputs(tmp_path, "c", image, _result(), writers=["nope"])


def test_cli_write_names_are_checked_first(tmp_path, capsys):
    from mobrecon.cli import main

    photo = tmp_path / "p.png"
    photo.write_bytes(b"")  # never read: the flags are refused before anything loads
    assert main(["reconstruct", str(photo), "--write", "obj,svg", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert err == "mobrecon reconstruct: error: --write: unknown output writer 'svg'; choose from obj, json, " \
                  "overlay, side\n"
    assert main(["reconstruct", str(photo), "--write", "obj", "--no-overlays", "--out", str(tmp_path / "o")]) == 2
    assert "give --write or --no-overlays, not both" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_write_chooses_the_files_of_photos_and_frames(monkeypatch, capsys, tmp_path):
    import cv2

    from mobrecon.cli import main
    from mobrecon.infer import predictor as predictor_mod

    torch.manual_seed(0)
    predictor = predictor_mod.Predictor(build("mobrecon_ghoststack").eval(), name="random")
    monkeypatch.setattr(predictor_mod, "load", lambda *a, **k: predictor)
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        cv2.imwrite(str(frames / f"f{i}.png"), np.full((48, 64, 3), 60 + 40 * i, np.uint8))
    assert main(["reconstruct", "--no-detect", "--quiet", str(frames / "f0.png"), "--write", "json",
                 "--out", str(tmp_path / "photo")]) == 0
    assert sorted(p.name for p in (tmp_path / "photo").iterdir() if p.name[0] != ".") == ["f0.json"]
    assert main(["reconstruct", "--no-detect", "--video", str(frames), "--write", "obj,json",
                 "--out", str(tmp_path / "video")]) == 0
    assert sorted(p.name for p in (tmp_path / "video").iterdir() if p.name[0] != ".") == \
        ["f0.json", "f0.obj", "f1.json", "f1.obj", "video.json"]
    assert "mobrecon_version" in (tmp_path / "photo" / "f0.json").read_text()
    assert (tmp_path / "video" / "f1.json").read_text().count("\n") == 1  # a frame's JSON: one line
    capsys.readouterr()
