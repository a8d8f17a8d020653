"""The node cache of prepared training sets: same pixels as a fresh preparation, keyed by what makes them."""

from __future__ import annotations

import torch

from srbench.train.data import ImageBank, PatchSampler, dihedral
from srbench.train.prepared import cache_file, prepare_training_set


def _banks(sampler: PatchSampler) -> list[torch.Tensor]:
    return [sampler.targets.buffer, sampler.inputs.buffer]


def test_a_cached_set_gives_the_pixels_of_a_fresh_preparation(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path))
    cold = PatchSampler("BSDS200", 3, 33, 1, "bicubic", data_root, limit=3)
    assert not cold.cached and cache_file("BSDS200", 3, data_root, 3, True).is_file()
    warm = PatchSampler("BSDS200", 3, 33, 1, "bicubic", data_root, limit=3)
    assert warm.cached
    for a, b in zip(_banks(cold), _banks(warm)):
        assert torch.equal(a, b)
    # An RGB, LR-input model shares nothing of the file it does not need, but reads the same HR pixels.
    rgb = PatchSampler("BSDS200", 3, 48, 3, "lr", data_root, limit=3)
    assert not rgb.cached and rgb.targets.buffer.numel() == 3 * cold.targets.buffer.numel()


def test_the_key_follows_scale_image_count_and_stages(data_root, tmp_path, monkeypatch):
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path))
    files = {
        cache_file("BSDS200", 3, data_root, 2, False),
        cache_file("BSDS200", 4, data_root, 2, False),
        cache_file("BSDS200", 3, data_root, 3, False),
        cache_file("BSDS200", 3, data_root, 2, True),
    }
    assert len(files) == 4 and all(f.parent.parent == tmp_path for f in files)


def test_a_damaged_cache_file_is_rebuilt(data_root, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SRBENCH_CACHE", str(tmp_path))
    first = prepare_training_set("BSDS200", 2, data_root, limit=1)
    path = cache_file("BSDS200", 2, data_root, 1, False)
    path.write_bytes(b"not a torch file")
    again = prepare_training_set("BSDS200", 2, data_root, limit=1)
    assert not again.cached and torch.equal(first.lr[0], again.lr[0])
    assert "ignoring the unreadable cache file" in capsys.readouterr().err
    assert prepare_training_set("BSDS200", 2, data_root, limit=1).cached  # rewritten whole
    assert not list(path.parent.glob(".*.partial"))


def test_an_unwritable_cache_costs_speed_not_the_trial(data_root, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("SRBENCH_CACHE", str(blocker))
    prepared = prepare_training_set("BSDS200", 2, data_root, limit=1)
    assert not prepared.cached and len(prepared.hr) == 1
    assert "could not cache the prepared training set" in capsys.readouterr().err


def test_a_bank_cuts_each_crop_under_its_flip_or_rotation():
    """Images of different sizes and channels: every crop is the image's window under the k-th of the 8
    flips/rotations, whatever its image, position and transform."""
    generator = torch.Generator().manual_seed(0)
    for channels in (1, 3):
        images = [torch.rand(channels, h, w, generator=generator) for h, w in ((20, 31), (17, 17), (40, 23))]
        bank = ImageBank(images)
        which = torch.tensor([0, 1, 2, 2, 0, 1, 2, 0])
        tops, lefts = torch.tensor([0, 3, 26, 5, 9, 0, 1, 2]), torch.tensor([22, 8, 14, 0, 3, 1, 9, 6])
        transforms = torch.arange(8)
        crops = bank.crops(which, tops, lefts, transforms, 9)
        for i, (n, top, left, k) in enumerate(zip(which, tops, lefts, transforms)):
            window = images[n][:, top : top + 9, left : left + 9]
            assert torch.equal(crops[i], dihedral(window, int(k))), (channels, i)
