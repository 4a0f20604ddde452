"""全安码 in public: the QR images and the A4 poster need no login and encode the config's
public_url (decoded back with OpenCV); without a public_url the center warns at start and the
QR points at the address the request came to. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from center.app import create_app
from center.config import CenterConfig
from center.domain import qr
from tests.centerkit import ENT_A, mini_park

PUBLIC = "https://pg.example.cn"


def decode_qr(png: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "not a decodable image"
    text, points, _ = cv2.QRCodeDetector().detectAndDecode(image)
    assert points is not None and text, "no QR code found"
    return str(text)


def make_client(db_url: str, workdir: Path, **extra: Any) -> TestClient:
    config = CenterConfig.model_validate(
        {"site": "yijia", "database": {"url": db_url}, "evidence_dir": str(workdir / "evidence"), **extra}
    )
    return TestClient(create_app(config, start_ingest=False))


@pytest.fixture
def client(db_url: str, tmp_workdir: Path) -> Iterator[TestClient]:
    with make_client(db_url, tmp_workdir, site_name="毅佳工业园", public_url=PUBLIC + "/") as c:
        mini_park(c.app.state.session_factory)  # type: ignore[attr-defined]
        yield c


def test_the_qr_images_are_public_and_encode_public_url(client: TestClient) -> None:
    png = client.get(f"/api/enterprises/{ENT_A}/qr.png")  # no login
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert decode_qr(png.content) == f"{PUBLIC}/e/{ENT_A}"
    svg = client.get(f"/api/enterprises/{ENT_A}/qr.svg?scale=4")
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    assert client.get("/api/enterprises/no-such/qr.png").status_code == 404
    assert client.get(f"/api/enterprises/{ENT_A}/qr.png?scale=400").status_code == 422


def test_the_poster_is_an_a4_png_with_the_qr(client: TestClient) -> None:
    if not any(Path(p).is_file() for p in qr.CJK_FONTS):
        pytest.skip("no CJK font on this machine (fonts-noto-cjk): the poster answers 503")
    resp = client.get(f"/api/enterprises/{ENT_A}/poster.png")  # no login
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(resp.content))
    image.load()
    assert image.format == "PNG" and image.size == (1240, 1754)
    assert abs(image.size[1] / image.size[0] - 297 / 210) < 0.01  # A4 portrait
    assert decode_qr(resp.content) == f"{PUBLIC}/e/{ENT_A}"
    # the level colour is on it (the top band), and it is not blank
    level = client.get(f"/api/enterprises/{ENT_A}/card").json()["level"]
    band = image.convert("RGB").getpixel((10, 10))
    assert "#{:02x}{:02x}{:02x}".format(*band) == qr.LEVEL_COLORS[level]
    assert client.get("/api/enterprises/no-such/poster.png").status_code == 404


def test_without_public_url_the_center_warns_and_the_qr_points_at_the_request(
    db_url: str, tmp_workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="center.app"), make_client(db_url, tmp_workdir) as c:
        mini_park(c.app.state.session_factory)  # type: ignore[attr-defined]
        png = c.get(f"/api/enterprises/{ENT_A}/qr.png")
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and "public_url" in r.getMessage()]
    assert warned, "no warning about the unset public_url"
    assert "request came to" in warned[0].getMessage()
    assert decode_qr(png.content) == f"http://testserver/e/{ENT_A}"


def test_no_warning_when_public_url_is_set(
    db_url: str, tmp_workdir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with (
        caplog.at_level(logging.WARNING, logger="center.app"),
        make_client(db_url, tmp_workdir, public_url=PUBLIC),
    ):
        pass
    assert not [r for r in caplog.records if "public_url" in r.getMessage()]


def test_the_demo_config_sets_public_url() -> None:
    import yaml

    path = Path(__file__).resolve().parents[3] / "configs" / "demo-center.yaml"
    demo = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert demo["public_url"].startswith("http")


def test_without_a_cjk_font_the_poster_says_why(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qr, "CJK_FONTS", ("/nonexistent/NotoSansCJK-Regular.ttc",))
    resp = client.get(f"/api/enterprises/{ENT_A}/poster.png")
    assert resp.status_code == 503 and "fonts-noto-cjk" in resp.json()["detail"]
    assert client.get(f"/api/enterprises/{ENT_A}/qr.png").status_code == 200  # the QR needs no font
