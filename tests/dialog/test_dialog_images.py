import base64
import io

import pytest
from PIL import Image

from lllm.core.const import Modalities, Roles
from lllm.core.dialog import Dialog
from lllm.core.images import load_image, sniff_image_mime

FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "GIF": "image/gif", "WEBP": "image/webp"}


def image_bytes(fmt):
    buf = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 10, 10)).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_bytes_of_each_format(fmt):
    data = image_bytes(fmt)
    d = Dialog()
    m = d.put_image(data, caption="a red box")
    assert m is d.tail and m.role == Roles.USER and m.name == "user"
    assert m.modality == Modalities.IMAGE
    assert m.content == base64.b64encode(data).decode()
    assert not m.content.startswith("data:")
    assert m.metadata["caption"] == "a red box" and m.metadata["mime_type"] == FORMATS[fmt]
    assert m.metadata["dialog_id"] == d.dialog_id


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_path_str_path_base64_and_data_url(fmt, tmp_path):
    data = image_bytes(fmt)
    p = tmp_path / f"img.{fmt.lower()}"
    p.write_bytes(data)
    b64 = base64.b64encode(data).decode()
    for src in (p, str(p), b64, f"data:image/whatever;base64,{b64}", bytearray(data), memoryview(data)):
        assert load_image(src) == (data, FORMATS[fmt])


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_pil_image_keeps_its_format(fmt):
    img = Image.open(io.BytesIO(image_bytes(fmt)))
    m = Dialog().put_image(img)
    assert m.metadata["mime_type"] == FORMATS[fmt]
    assert Image.open(io.BytesIO(base64.b64decode(m.content))).size == (4, 3)


def test_fresh_pil_image_becomes_png():
    m = Dialog().put_image(Image.new("RGBA", (2, 2)))
    assert m.metadata == {"caption": None, "mime_type": "image/png", "dialog_id": m.metadata["dialog_id"]}


def test_pil_image_in_unsavable_mode_is_converted():
    m = Dialog().put_image(Image.new("CMYK", (2, 2)))
    assert m.metadata["mime_type"] == "image/png"


def test_role_name_and_metadata_are_kept():
    m = Dialog().put_image(image_bytes("PNG"), name="camera", metadata={"frame": 3}, role=Roles.ASSISTANT)
    assert m.role == Roles.ASSISTANT and m.name == "camera"
    assert m.metadata["frame"] == 3 and m.metadata["caption"] is None


def test_sniff():
    assert sniff_image_mime(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff_image_mime(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None
    assert sniff_image_mime(b"GIF87a...") == "image/gif"
    assert sniff_image_mime(b"") is None


def test_unsupported_format_bytes():
    buf = io.BytesIO()
    Image.new("RGB", (2, 2)).save(buf, format="BMP")
    with pytest.raises(ValueError, match="only PNG, JPEG, GIF and WebP are accepted"):
        Dialog().put_image(buf.getvalue())
    with pytest.raises(ValueError) as ei:
        Dialog().put_image(b"BM" + b"\x00" * 20)
    assert str(ei.value) == (
        "put_image: unsupported image data (starts with b'BM\\x00\\x00\\x00\\x00\\x00\\x00'); "
        "only PNG, JPEG, GIF and WebP are accepted"
    )


def test_unsupported_format_base64_and_empty():
    with pytest.raises(ValueError, match="only PNG, JPEG, GIF and WebP are accepted"):
        Dialog().put_image(base64.b64encode(b"plain text, not an image").decode())
    with pytest.raises(ValueError, match=r"starts with b''"):
        Dialog().put_image(b"")


def test_unreadable_string():
    with pytest.raises(ValueError) as ei:
        Dialog().put_image("missing/file.png")
    assert str(ei.value) == (
        "put_image: the string 'missing/file.png' is neither an existing file path nor valid base64 image data"
    )


def test_long_unreadable_string_is_shortened():
    with pytest.raises(ValueError) as ei:
        Dialog().put_image("#" * 500)
    assert "'" + "#" * 57 + "...'" in str(ei.value)


def test_missing_path_object(tmp_path):
    with pytest.raises(ValueError) as ei:
        Dialog().put_image(tmp_path / "nope.png")
    assert str(ei.value) == f"put_image: no image file at '{tmp_path / 'nope.png'}'"


@pytest.mark.parametrize("bad, name", [(42, "int"), (None, "NoneType"), ([b"x"], "list")])
def test_wrong_type(bad, name):
    with pytest.raises(ValueError) as ei:
        Dialog().put_image(bad)
    assert str(ei.value) == (
        f"put_image: unsupported image type {name}; pass a file path, a PIL image, bytes or a base64 string"
    )


def test_failed_put_image_appends_nothing():
    d = Dialog()
    with pytest.raises(ValueError):
        d.put_image(b"nope")
    assert len(d) == 0
