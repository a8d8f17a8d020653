"""The command line: help, eval/data subcommands, and one-line errors with exit 2 for user mistakes."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from srbench.cli import COMMANDS, build_parser, main
from srbench.data import load_rgb
from srbench.data.images import save_png
from srbench.degrade import bicubic_lr, imresize


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse's own exits (--help, usage errors)
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *fragments: str) -> None:
    lines = [line for line in err.splitlines() if "error" in line]
    assert code == 2
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


def srbench_imports(*argv: str) -> tuple[subprocess.CompletedProcess, set[str]]:
    """``python -m srbench ARGV``, and the top-level packages it imported (read from ``-X importtime``)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "srbench", *argv], capture_output=True, text=True
    )
    timed = [line for line in result.stderr.splitlines() if line.startswith("import time:")]
    return result, {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in timed}


def test_module_entry_point_lists_every_command(monkeypatch):
    """``srbench --help`` builds no command's own parser, yet shows what the parser with all of them shows."""
    monkeypatch.setenv("COLUMNS", "100")  # the same line width here and in the child
    result, _ = srbench_imports("--help")
    assert result.returncode == 0 and result.stdout == build_parser().format_help()
    for command in COMMANDS:
        assert re.search(rf"^ +{command.NAME}\b", result.stdout, re.MULTILINE), command.NAME


@pytest.mark.parametrize(
    "argv",
    [("--help",), ("--version",), ("nosuchcommand",)]
    + [(name, "--help") for name in ("data", "models", "sweep", "studies", "sweeps", "leaderboard")],
)
def test_help_version_and_typos_import_neither_torch_nor_mlflow_nor_ray(argv):
    """Every srbench process builds the parser: help, a typo and the commands whose options need no registry
    answer in a fraction of a second, without the seconds torch, MLflow and Ray take to import."""
    result, packages = srbench_imports(*argv)
    assert result.returncode == (2 if argv == ("nosuchcommand",) else 0), result.stderr
    assert not packages & {"torch", "mlflow", "ray"}


def test_module_entry_point_user_error_exits_2_without_traceback(data_root):
    env = {**os.environ, "SRBENCH_DATA": str(data_root)}
    result = subprocess.run(
        [sys.executable, "-m", "srbench", "eval", "bicubic", "--sets", "Set6"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 2 and result.stdout == ""
    assert (
        result.stderr.strip()
        == "srbench eval: error: unknown benchmark set 'Set6'; valid: Set5, Set14, BSD100, Urban100, Manga109"
    )


def test_output_into_a_pipe_its_reader_closed_ends_without_a_traceback():
    """``srbench studies | head -1``: the reader goes away before srbench writes (it is closed here before the
    process has even imported srbench)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "srbench", "studies"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 141 and "Traceback" not in err, err


@pytest.mark.parametrize("argv", [("eval", "--help"), ("data", "lr", "--help"), ("data", "fetch", "--help")])
def test_subcommand_help(capsys, argv):
    code, out, _ = run_cli(capsys, *argv)
    assert code == 0 and "--data-root" in out


def test_eval_bicubic_table_and_json(capsys, data_root):
    code, out, _ = run_cli(capsys, "eval", "bicubic", "--sets", "Set5", "--scales", "4", "--data-root", str(data_root))
    assert code == 0
    assert "Set5" in out and "x4" in out and "28.43" in out and "0.8111" in out
    code, out, _ = run_cli(
        capsys, "eval", "bicubic", "--sets", "Set5", "--scales", "3,4", "--json", "--data-root", str(data_root)
    )
    results = json.loads(out)["results"]
    assert [(r["set"], r["scale"]) for r in results] == [("Set5", 3), ("Set5", 4)]
    assert round(results[1]["psnr_y"], 2) == 28.43 and len(results[1]["per_image"]) == 5


@pytest.mark.parametrize(
    "argv,fragments",
    [
        (("eval", "bicubic", "--sets", "Set5,Foo"), ["unknown benchmark set 'Foo'", "Set14"]),
        (("eval", "bicubic", "--sets", "BSDS200"), ["unknown benchmark set 'BSDS200'"]),
        (("eval", "bicubic", "--sets", " , "), ["no data set named"]),
        (("eval", "bicubic", "--scales", "2,x"), ["bad scale 'x'", "integers >= 2"]),
        (("eval", "bicubic", "--scales", "1"), ["bad scale '1'"]),
        (("eval", "bicubic", "--scales", "2.5"), ["bad scale '2.5'"]),
        (("eval", "/no/such/folder", "--sets", "Set5", "--scales", "4"), ["SR folder /no/such/folder does not exist"]),
        (("eval",), ["give one (and only one) of SOURCE", "--checkpoint PATH", "--model-uri URI"]),
        (("eval", "bicubic", "--checkpoint", "x.pt"), ["give one (and only one) of SOURCE"]),
        (("eval", "--checkpoint", "/no/such.pt"), ["checkpoint /no/such.pt does not exist"]),
        (("eval", "--checkpoint", "/"), ["checkpoint / is a folder: give the .pt file in it"]),
        (("eval", "--weights", "/", "--scales", "4"), ["--weights / is a folder: give the file in it"]),
        (("eval", "/etc/hostname", "--sets", "Set5", "--scales", "4"), ["SR folder /etc/hostname is a file"]),
        (("train", "--model", "srresnet", "--variant", "9-1-5", "--scale", "4"), ["it has no variants: leave it out"]),
        (("train", "--model", "srcnn", "--scale", "3", "--budget", "fast"), ["argument --budget: invalid choice"]),
        (
            ("train", "--model", "srcnn", "--scale", "3", "--budget", "smoke", "--set", "model.channels=[8, 4]"),
            ["unknown training field 'model.channels'", "goes in --model-config"],
        ),
        # sweep's --set is not eval's --sets, however alike they look: no option is abbreviated
        (
            ("eval", "bicubic", "--set", "dists_weights=random"),
            ["unrecognized arguments: --set dists_weights=random", "see 'srbench eval --help'"],
        ),
        (("data", "lr", "--set", "Set5", "--scale", "4,3", "--out", "x"), ["--scale takes one scale"]),
        (("data", "lr", "--set", "BSD200", "--scale", "4", "--out", "x"), ["unknown benchmark set 'BSD200'"]),
        (("data", "fetch", "Set99"), ["unknown data set 'Set99'"]),
        (("frobnicate",), ["invalid choice: 'frobnicate'"]),
    ],
)
def test_user_mistakes_give_one_line_and_exit_2(capsys, data_root, argv, fragments):
    code, _, err = run_cli(
        capsys, *argv, *(["--data-root", str(data_root)] if len(argv) > 1 and argv[0] != "frobnicate" else [])
    )
    assert_one_line_error(code, err, *fragments)


@pytest.fixture
def sr_folder(tmp_path, set5):
    folder = tmp_path / "method" / "Set5" / "x4"
    folder.mkdir(parents=True)
    for name, hr in set5:
        save_png(imresize(bicubic_lr(hr, 4), scale=4), folder / name)
    return tmp_path / "method"


def test_eval_folder_scores_sr_images(capsys, data_root, sr_folder):
    code, out, _ = run_cli(
        capsys, "eval", str(sr_folder), "--sets", "Set5", "--scales", "4", "--data-root", str(data_root)
    )
    assert code == 0 and "28.43" in out and "0.8111" in out


def test_eval_folder_with_misnamed_files_lists_them(capsys, data_root, sr_folder):
    (sr_folder / "Set5" / "x4" / "baby.png").rename(sr_folder / "Set5" / "x4" / "baby_x4_SR.png")
    code, _, err = run_cli(
        capsys, "eval", str(sr_folder), "--sets", "Set5", "--scales", "4", "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "no SR image named like HR file(s) baby", "unmatched files there: baby_x4_SR")


def test_eval_folder_with_wrong_size_lists_them(capsys, data_root, sr_folder):
    path = sr_folder / "Set5" / "x4" / "bird.png"
    save_png(load_rgb(path)[:, :-4, :], path)
    code, _, err = run_cli(
        capsys, "eval", str(sr_folder), "--sets", "Set5", "--scales", "4", "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "wrong SR image size(s): bird.png is 288x284, expected 288x288")


def test_eval_folder_with_corrupt_image_names_it(capsys, data_root, sr_folder):
    (sr_folder / "Set5" / "x4" / "head.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    code, _, err = run_cli(
        capsys, "eval", str(sr_folder), "--sets", "Set5", "--scales", "4", "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "cannot read image", "head.png")


def test_a_flat_folder_asked_for_two_sets_says_it_is_read_for_one(capsys, data_root, tmp_path, set5):
    for name, hr in set5:
        save_png(imresize(bicubic_lr(hr, 4), scale=4), tmp_path / name)
    code, _, err = run_cli(
        capsys, "eval", str(tmp_path), "--sets", "Set5,Set14", "--scales", "4", "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "holds images itself: a flat folder is one set at one scale, e.g. --sets Set5")


def test_eval_folder_without_the_scale_subfolder_says_where_it_looked(capsys, data_root, sr_folder):
    code, _, err = run_cli(
        capsys, "eval", str(sr_folder), "--sets", "Set5", "--scales", "2,4", "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "no SR images for Set5 x2: looked in", "Set5/x2")


def test_missing_set_offline_names_set_folder_and_fix(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("SRBENCH_MIRROR", "http://127.0.0.1:9")
    code, _, err = run_cli(capsys, "eval", "bicubic", "--sets", "Set14", "--scales", "2", "--data-root", str(tmp_path))
    assert_one_line_error(code, err, "Set14 is not in", "--data-root DIR or SRBENCH_DATA=DIR")
    # a data root the failed download had to make is not left behind, empty
    code, _, err = run_cli(
        capsys, "eval", "bicubic", "--sets", "Set14", "--scales", "2", "--data-root", str(tmp_path / "new" / "data")
    )
    assert code == 2 and not (tmp_path / "new").exists() and list(tmp_path.iterdir()) == [], err


def test_data_lr_writes_matlab_bicubic_pngs_named_like_hr(capsys, tmp_path, data_root, set5):
    out = tmp_path / "lr"
    code, _, _ = run_cli(
        capsys, "data", "lr", "--set", "Set5", "--scale", "3", "--out", str(out), "--data-root", str(data_root)
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [name for name, _ in set5]
    for name, hr in set5:
        assert torch.equal(load_rgb(out / name), bicubic_lr(hr, 3))


def test_data_lr_never_overwrites_silently(capsys, tmp_path, data_root):
    out = tmp_path / "lr"
    out.mkdir()
    (out / "baby.png").write_bytes(b"precious")
    code, _, err = run_cli(
        capsys, "data", "lr", "--set", "Set5", "--scale", "4", "--out", str(out), "--data-root", str(data_root)
    )
    assert_one_line_error(code, err, "already holds baby.png", "--overwrite")
    assert (out / "baby.png").read_bytes() == b"precious" and len(list(out.iterdir())) == 1


def test_data_list_and_verify(capsys, data_root):
    code, out, _ = run_cli(capsys, "data", "list", "--data-root", str(data_root))
    assert code == 0 and "Set5" in out and "Manga109" in out and "on request" in out
    code, out, _ = run_cli(capsys, "data", "verify", "Set5", "BSDS200", "--data-root", str(data_root))
    assert code == 0 and out.count("ok, pixels verified") == 2


def test_data_verify_fails_for_a_missing_set(capsys, tmp_path):
    code, out, _ = run_cli(capsys, "data", "verify", "Set5", "--data-root", str(tmp_path))
    assert code == 1 and "missing" in out


def test_a_data_root_that_holds_nothing_is_a_file_or_cannot_be_made_is_one_line(capsys, tmp_path, monkeypatch):
    """An empty (or mistyped) data root never passes as verified; a file given as the root, or a root that cannot
    be made for a download, is named with where it came from."""
    code, _, err = run_cli(capsys, "data", "verify", "--data-root", str(tmp_path / "empty"))
    assert_one_line_error(code, err, f"no data sets under {tmp_path / 'empty'}: nothing to verify")
    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("SRBENCH_DATA", str(tmp_path / "file"))
    code, _, err = run_cli(capsys, "eval", "bicubic", "--sets", "Set5", "--scales", "4")
    assert_one_line_error(code, err, f"SRBENCH_DATA {tmp_path / 'file'} is a file, not a folder")
    monkeypatch.setenv("SRBENCH_DATA", str(tmp_path / "file" / "below"))  # no folder can be made in a file
    code, _, err = run_cli(capsys, "eval", "bicubic", "--sets", "Set5", "--scales", "4")
    assert_one_line_error(code, err, f"cannot download Set5: the data folder {tmp_path / 'file' / 'below'} cannot be")


def test_models_lists_every_family_with_figures(capsys):
    code, out, _ = run_cli(capsys, "models")
    assert code == 0 and "8,129" in out and "srdensenet" in out and "nosft" in out
    code, out, _ = run_cli(capsys, "models", "--json")
    rows = {(r["model"], r["variant"]): r for r in json.loads(out)}
    assert rows[("srcnn", "9-1-5")]["parameters"] == 8129
    assert rows[("srresnet", "")]["macs_per_mp"] > rows[("srcnn", "9-5-5")]["macs_per_mp"]
