"""Data catalogue, data-root resolution, verification, and downloads from a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import http.server
import io
import os
import shutil
import tarfile
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from srbench.data import CATALOGUE, ensure, get_spec, load_set, parse_set_list, resolve_data_root, status
from srbench.data.fetch import fetch
from srbench.errors import UserError
from srbench.evaluate import evaluate_reference
from srbench.train.config import make_config


class _Handler(http.server.SimpleHTTPRequestHandler):
    truncate: set[str] = set()

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        name = self.path.lstrip("/")
        if name in self.truncate:  # promise the whole file, send half, hang up
            data = (Path(self.directory) / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving ``tmp_path / 'www'``; yields (folder, base URL)."""
    www = tmp_path / "www"
    www.mkdir()
    handler = type("Handler", (_Handler,), {"truncate": set()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: handler(*a, directory=str(www)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield www, f"http://127.0.0.1:{httpd.server_address[1]}", handler
    finally:
        httpd.shutdown()
        httpd.server_close()


def spec_at(name: str, url: str):
    return replace(get_spec(name), url=url)


def make_tar(path: Path, files: dict[str, bytes], extra=None) -> None:
    with tarfile.open(path, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        if extra:
            extra(tf)


def set_files(data_root: Path, name: str, prefix: str) -> dict[str, bytes]:
    folder = data_root / CATALOGUE[name].relpath
    return {f"{prefix}/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def test_catalogue_has_the_named_sets_with_reference_digests():
    assert {"Set5", "Set14", "BSD100", "Urban100", "Manga109", "BSDS200", "T91", "DIV2K"} <= set(CATALOGUE)
    for name, count in [("Set5", 5), ("Set14", 14), ("BSD100", 100), ("Urban100", 100), ("BSDS200", 200)]:
        assert len(CATALOGUE[name].digests) == count and CATALOGUE[name].verifiable
    assert get_spec("set5") is CATALOGUE["Set5"]
    with pytest.raises(UserError, match="unknown data set 'Set6'; valid: Set5"):
        get_spec("Set6")


def test_data_root_precedence(monkeypatch, tmp_path):
    monkeypatch.setenv("SRBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "cli") == tmp_path / "cli"
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.delenv("SRBENCH_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert resolve_data_root(None) == tmp_path / "cache" / "srbench" / "data"


def test_reference_copies_verify(data_root):
    for name in ("Set5", "Set14", "BSD100", "BSDS200"):
        st = status(CATALOGUE[name], data_root)
        assert st.state == "ok, pixels verified", name


def test_urban100_is_there_and_its_pixels_verify(data_root):
    # Every image present; pixels checked on the first ones only: the whole set is 130 MB to decode
    # (``srbench data verify Urban100`` checks them all).
    spec = CATALOGUE["Urban100"]
    assert status(spec, data_root, check_pixels=False).state == "present", f"put Urban100 in {data_root}"
    images = load_set(spec, data_root, download=False, limit=3)
    assert [(name, max(hr.shape[1:])) for name, hr in images] == [(f"img_00{i}.png", 1024) for i in (1, 2, 3)]


def test_urban100_goes_wherever_a_set_name_goes(data_root):
    assert [s.name for s in parse_set_list("Set5,urban100")] == ["Set5", "Urban100"]
    config = make_config({"name": "srcnn"}, 3, "smoke", eval_sets=["Set5", "Urban100"], val_sets=["Urban100"])
    assert config.eval_sets == ["Set5", "Urban100"]
    # 644x1024: modcropped to 642x1023 at x3, as the protocol does for any set
    (score,) = evaluate_reference("bicubic", [CATALOGUE["Urban100"]], [3], data_root, download=False, limit=1)
    assert (score.set, score.images, score.per_image[0]["image"]) == ("Urban100", 1, "img_001.png")
    assert score.psnr_y == pytest.approx(26.1867, abs=1e-4)  # its row in `eval bicubic --sets Urban100 --json`


def test_a_changed_pixel_is_detected(tmp_path, data_root):
    shutil.copytree(data_root / "benchmarks" / "Set5", tmp_path / "benchmarks" / "Set5")
    path = tmp_path / "benchmarks" / "Set5" / "HR" / "bird.png"
    img = Image.open(path).convert("RGB")
    img.putpixel((0, 0), tuple((v + 1) % 256 for v in img.getpixel((0, 0))))
    img.save(path)
    assert status(CATALOGUE["Set5"], tmp_path).mismatched == ["bird.png"]
    with pytest.raises(UserError, match="bird.png differs from the reference Set5 image"):
        load_set(CATALOGUE["Set5"], tmp_path, download=False)


def test_fetch_installs_a_verified_set_from_a_tar_gz(server, tmp_path, data_root):
    www, base, _ = server
    make_tar(www / "Set5_HR.tar.gz", set_files(data_root, "Set5", "Set5_HR"))
    root = tmp_path / "root"
    folder = ensure(spec_at("Set5", f"{base}/Set5_HR.tar.gz"), root)
    assert folder == root / "benchmarks" / "Set5" / "HR"
    assert status(CATALOGUE["Set5"], root).state == "ok, pixels verified"
    assert leftovers(root / "benchmarks") == ["Set5", "Set5/HR"] + [
        f"Set5/HR/{n}" for n in sorted(CATALOGUE["Set5"].digests)
    ]


def test_fetch_matches_re_encoded_and_renamed_images_by_pixels(server, tmp_path, data_root):
    www, base, _ = server
    with zipfile.ZipFile(www / "set5.zip", "w") as zf:
        for i, p in enumerate(sorted((data_root / "benchmarks/Set5/HR").iterdir())):
            buf = io.BytesIO()
            Image.open(p).convert("RGB").save(buf, format="BMP")
            zf.writestr(f"images/img_{i:03d}.bmp", buf.getvalue())
        zf.writestr("README.txt", "not an image")
    root = tmp_path / "root"
    fetch(spec_at("Set5", f"{base}/set5.zip"), root)
    assert status(CATALOGUE["Set5"], root).state == "ok, pixels verified"


def test_mirror_env_var_redirects_downloads_and_offline_error_says_what_to_do(server, tmp_path, data_root, monkeypatch):
    www, base, _ = server
    make_tar(www / "Set5_HR.tar.gz", set_files(data_root, "Set5", "x"))
    monkeypatch.setenv("SRBENCH_MIRROR", base)
    ensure(CATALOGUE["Set5"], tmp_path / "a")
    assert status(CATALOGUE["Set5"], tmp_path / "a").state == "ok, pixels verified"

    monkeypatch.setenv("SRBENCH_MIRROR", "http://127.0.0.1:9")  # discard port: nothing listens
    with pytest.raises(UserError) as err:
        ensure(CATALOGUE["Set14"], tmp_path / "b")
    message = str(err.value)
    assert "Set14 is not in" in message and str(tmp_path / "b" / "benchmarks/Set14/HR") in message
    assert "--data-root DIR or SRBENCH_DATA=DIR" in message and "\n" not in message
    assert leftovers(tmp_path / "b") == []


def _assert_clean_failure(spec, root: Path, match: str) -> None:
    with pytest.raises(UserError, match=match):
        ensure(spec, root)
    assert not (root / spec.relpath).exists()
    assert leftovers(root) == [], "half-written files left behind"


def test_truncated_download_is_an_error_and_leaves_nothing(server, tmp_path, data_root):
    www, base, handler = server
    make_tar(www / "Set5_HR.tar.gz", set_files(data_root, "Set5", "Set5"))
    handler.truncate.add("Set5_HR.tar.gz")
    _assert_clean_failure(spec_at("Set5", f"{base}/Set5_HR.tar.gz"), tmp_path / "root", "truncated|broke off")


def test_corrupted_archive_is_an_error_and_leaves_nothing(server, tmp_path, data_root):
    www, base, _ = server
    make_tar(www / "good.tar.gz", set_files(data_root, "Set5", "Set5"))
    data = bytearray((www / "good.tar.gz").read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    (www / "bad.tar.gz").write_bytes(bytes(data))
    _assert_clean_failure(spec_at("Set5", f"{base}/bad.tar.gz"), tmp_path / "root", "corrupt")
    (www / "page.tar.gz").write_bytes(b"<html>rate limited</html>")
    _assert_clean_failure(spec_at("Set5", f"{base}/page.tar.gz"), tmp_path / "root", "not a zip or tar archive")


def test_archive_missing_images_names_them(server, tmp_path, data_root):
    www, base, _ = server
    files = set_files(data_root, "Set5", "Set5")
    del files["Set5/woman.png"]
    make_tar(www / "short.tar.gz", files)
    _assert_clean_failure(
        spec_at("Set5", f"{base}/short.tar.gz"), tmp_path / "root", "lacks 1 of Set5's 5 images.*woman.png"
    )


@pytest.mark.parametrize("attack", ["dotdot", "absolute", "symlink_out", "zip_dotdot"])
def test_unsafe_archives_are_refused_and_nothing_escapes(server, tmp_path, data_root, attack):
    www, base, _ = server
    files = set_files(data_root, "Set5", "Set5")
    if attack == "zip_dotdot":
        with zipfile.ZipFile(www / "evil.zip", "w") as zf:
            for name, data in files.items():
                zf.writestr(name, data)
            zf.writestr("../../escaped.png", files["Set5/baby.png"])
        url = f"{base}/evil.zip"
    else:

        def add_evil(tf):
            if attack == "symlink_out":
                info = tarfile.TarInfo("Set5/link.png")
                info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
                tf.addfile(info)
            else:
                name = "../../escaped.png" if attack == "dotdot" else "/tmp/escaped-srbench.png"
                info = tarfile.TarInfo(name)
                info.size = len(files["Set5/baby.png"])
                tf.addfile(info, io.BytesIO(files["Set5/baby.png"]))

        make_tar(www / "evil.tar.gz", files, add_evil)
        url = f"{base}/evil.tar.gz"
    root = tmp_path / "root"
    _assert_clean_failure(spec_at("Set5", url), root, "unsafe path or link")
    assert not (tmp_path / "escaped.png").exists() and not Path("/tmp/escaped-srbench.png").exists()


def test_sets_without_public_download_say_where_to_get_them(tmp_path):
    with pytest.raises(UserError, match="Manga109 is not in .* has no public download .*manga109.org"):
        ensure(CATALOGUE["Manga109"], tmp_path)


def test_download_switched_off_is_reported(tmp_path):
    with pytest.raises(UserError, match="Set5 is not in .* downloading is switched off"):
        load_set(CATALOGUE["Set5"], tmp_path, download=False)
    assert not os.listdir(tmp_path)
