"""The bicubic baseline reproduces the published figures; folder evaluation agrees with it."""

from __future__ import annotations

import threading

import pytest

from srbench.data import get_spec
from srbench.data.images import save_png
from srbench.degrade import bicubic_lr, imresize
from srbench.evaluate import evaluate_folder, evaluate_model, evaluate_reference

# Published bicubic figures (e.g. Lim et al. 2017, Zhang et al. 2018), Y channel, standard protocol.
PUBLISHED = {
    ("BSD100", 2): (29.56, 0.8434),
    ("BSD100", 3): (27.21, 0.7391),
    ("BSD100", 4): (25.96, 0.6681),
    ("Set5", 4): (28.43, 0.8111),
}


@pytest.fixture(scope="module")
def bicubic_scores(data_root):
    scores = evaluate_reference("bicubic", [get_spec("Set5"), get_spec("BSD100")], [2, 3, 4], data_root, download=False)
    return {(s.set, s.scale): s for s in scores}


@pytest.mark.parametrize("key", sorted(PUBLISHED))
def test_bicubic_reproduces_published_psnr_and_ssim(bicubic_scores, key):
    score = bicubic_scores[key]
    assert f"{score.psnr_y:.2f}" == f"{PUBLISHED[key][0]:.2f}"
    assert f"{score.ssim_y:.4f}" == f"{PUBLISHED[key][1]:.4f}"
    assert score.images == {"Set5": 5, "BSD100": 100}[key[0]]


def test_folder_of_bicubic_images_scores_like_the_baseline(tmp_path, data_root, set5, bicubic_scores):
    for scale in (2, 4):
        out = tmp_path / "Set5" / f"x{scale}"
        out.mkdir(parents=True)
        for name, hr in set5:
            save_png(imresize(bicubic_lr(hr, scale), scale=scale), out / name)
    scores = evaluate_folder(tmp_path, [get_spec("Set5")], [2, 4], data_root, download=False)
    for s in scores:
        assert s.psnr_y == pytest.approx(bicubic_scores[("Set5", s.scale)].psnr_y, abs=1e-12)
        assert s.ssim_y == pytest.approx(bicubic_scores[("Set5", s.scale)].ssim_y, abs=1e-12)
        assert [r["image"] for r in s.per_image] == [name for name, _ in set5]


def test_lr_images_made_ahead_on_a_helper_thread_give_the_same_figures(data_root, monkeypatch):
    """Where the network runs on an accelerator each LR image is made on a helper thread while it runs on the ones
    before: the same LR images, in the same order, the same figures as made one by one in line."""
    made_on: list[str] = []

    def recorded(hr, scale):
        made_on.append(threading.current_thread().name)
        return bicubic_lr(hr, scale)

    monkeypatch.setattr("srbench.evaluate.bicubic_lr", recorded)

    def enlarge(lr, scale, _name):
        return imresize(lr, scale=scale)

    spec = get_spec("Set14")
    [in_line] = evaluate_model(enlarge, [spec], [3], data_root, download=False, lr_ahead=False)
    assert set(made_on) == {threading.current_thread().name}
    made_on.clear()
    [ahead] = evaluate_model(enlarge, [spec], [3], data_root, download=False, lr_ahead=True)
    assert len(made_on) == in_line.images and threading.current_thread().name not in made_on
    assert ahead.per_image == in_line.per_image and ahead.figures == in_line.figures


def test_a_slow_network_says_how_far_it_is_through_a_set(data_root, monkeypatch, capsys):
    """Every PROGRESS_EVERY_S seconds (here: after every image) a line on stderr; none after the last image."""
    monkeypatch.setattr("srbench.evaluate.PROGRESS_EVERY_S", 0.0)

    def enlarge(lr, scale, _name):
        return imresize(lr, scale=scale)

    [score] = evaluate_model(enlarge, [get_spec("Set5")], [4], data_root, download=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "scoring Set5 x4 (5 images)"
    assert [line.split(",")[0] for line in lines[1:]] == [
        f"  Set5 x4: {done} of 5 images super-resolved" for done in range(1, 5)
    ]
    assert score.images == 5
