"""``POST /api/v1/images/{asset}/{signal}``: image uploads over a real socket (uvicorn)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from shopfloor.api.security import ApiSecurity
from shopfloor.api.tokens import Role, TokenRegistry
from shopfloor.model import Signal, SignalKind, SignalRef, to_ns
from shopfloor.store import DuckDBStore
from tests.api.conftest import ASSET, served
from tests.connectors.hotfolder_env import png

pytestmark = pytest.mark.integration

CAMERA = SignalRef(ASSET, "camera")
URL = f"/api/v1/images/{ASSET}/camera"
T = "2024-05-01T12:00:00Z"


@dataclass
class Upload:
    url: str
    store: DuckDBStore
    secrets: dict[Role, str]

    def client(self, role: Role | None = Role.OPERATOR) -> httpx.AsyncClient:
        headers = {"authorization": f"Bearer {self.secrets[role]}"} if role else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=60)

    async def letters(self) -> list[dict[str, object]]:
        return [
            {"reason": d.reason, **d.detail}
            for d in await self.store.read_dead_letters(source="api")
        ]


async def _serve(tmp_path: Path, **limits: int) -> AsyncIterator[Upload]:
    store = DuckDBStore(tmp_path / "store.duckdb")
    await store.open()
    await store.register_signals(
        ASSET, [Signal(name="camera", kind=SignalKind.IMAGE), Signal(name="speed")]
    )
    tokens = TokenRegistry(tmp_path / "tokens.json")
    secrets = {role: tokens.create(role.value, role) for role in Role}
    try:
        async with served(store, ApiSecurity(tokens, **limits)) as url:
            yield Upload(url, store, secrets)
    finally:
        await store.close()


@pytest.fixture
async def upload(tmp_path: Path) -> AsyncIterator[Upload]:
    async for served_upload in _serve(tmp_path):
        yield served_upload


async def test_a_multipart_upload_is_stored_with_its_fields(upload: Upload) -> None:
    data = png(1, size=24)
    async with upload.client() as client:
        response = await client.post(
            URL,
            files={"file": ("part-42.png", data, "image/png")},
            data={"part_id": "42", "barcode": "4006381333931", "label": "good", "timestamp": T},
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ts_ns"] == to_ns(T) and body["shape"] == [24, 24, 3] and body["written"] == 1
    (image,) = await upload.store.read_images(CAMERA, to_ns(T), to_ns(T) + 1)
    assert image.data == data and image.format == "png"
    assert dict(image.attributes) == {
        "source_file": "part-42.png",
        "part_id": "42",
        "barcode": "4006381333931",
        "label": "good",
    }


async def test_a_raw_image_body_takes_its_fields_from_the_query(upload: Upload) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("L", (8, 6)).save(buffer, format="JPEG")
    params = {"part_id": "7", "timestamp": str(to_ns(T)), "filename": "p7.jpg"}
    async with upload.client() as client:
        response = await client.post(
            URL, content=buffer.getvalue(), params=params, headers={"content-type": "image/jpeg"}
        )
        again = await client.post(
            URL, content=buffer.getvalue(), params=params, headers={"content-type": "image/jpeg"}
        )
        other = await client.post(
            URL, content=png(3), params=params, headers={"content-type": "image/png"}
        )
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "jpeg" and response.json()["shape"] == [6, 8, 1]
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert other.status_code == 409, other.text  # same time, other bytes: first write wins
    assert await upload.store.count(CAMERA) == 1


async def test_bad_uploads_are_refused_by_content_and_dead_lettered(upload: Upload) -> None:
    data = png(2)
    async with upload.client() as client:
        text = await client.post(
            URL, files={"file": ("notes.png", b"shift report: all good\n", "image/png")}
        )
        truncated = await client.post(
            URL, content=data[: len(data) // 2], headers={"content-type": "image/png"}
        )
        huge = await client.post(
            URL,
            files={"file": ("huge.png", b"\0" * (50 * 1024 * 1024), "image/png")},
        )
        after = await client.post(URL, files={"file": ("ok.png", data, "image/png")})
    assert text.status_code == 415 and text.json()["error"] == "NotAnImage", text.text
    assert "notes.png" in text.json()["detail"]
    assert truncated.status_code == 422 and "truncated" in truncated.json()["detail"]
    assert huge.status_code == 413 and huge.json()["error"] == "ImageTooLarge", huge.text
    assert "20971520 bytes" in huge.json()["detail"]
    assert after.status_code == 200, after.text  # the API keeps serving
    letters = {str(letter["category"]): letter for letter in await upload.letters()}
    assert set(letters) == {"not_an_image", "bad_image", "oversized"}
    assert letters["not_an_image"]["file"] == "notes.png"
    assert letters["oversized"]["signal"] == CAMERA.path
    assert all(letter["who"] == "operator" for letter in letters.values())


async def test_the_limit_is_configurable_and_checked_without_reading_the_body(
    tmp_path: Path,
) -> None:
    async for small in _serve(tmp_path, max_image_bytes=1000):
        async with small.client() as client:
            response = await client.post(
                URL, content=png(4, size=64), headers={"content-type": "image/png"}
            )
        assert response.status_code == 413 and "1000 bytes" in response.json()["detail"]
        (letter,) = await small.letters()
        assert letter["category"] == "oversized"


async def test_who_may_upload_and_where(upload: Upload) -> None:
    files = {"file": ("a.png", png(5), "image/png")}
    async with upload.client(Role.VIEWER) as viewer:
        assert (await viewer.post(URL, files=files)).status_code == 403
    async with upload.client(None) as nobody:
        assert (await nobody.post(URL, files=files)).status_code == 401
    async with upload.client() as client:
        unknown = await client.post(f"/api/v1/images/{ASSET}/nope", files=files)
        scalar = await client.post(f"/api/v1/images/{ASSET}/speed", files=files)
        text = await client.post(URL, content=b"x", headers={"content-type": "text/plain"})
        json_body = await client.post(URL, json={"image": "x"})
        no_file = await client.post(URL, data={"part_id": "1"}, files={"x": (None, b"1")})
    assert unknown.status_code == 404, unknown.text
    assert scalar.status_code == 422 and "scalar" in scalar.json()["detail"]
    assert text.status_code == 415 and json_body.status_code == 415
    assert no_file.status_code == 422, no_file.text
    assert await upload.store.count(CAMERA) == 0
