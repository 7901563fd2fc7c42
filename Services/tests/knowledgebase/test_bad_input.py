"""Bad input: each case ends in a clear per-file reason (or a clear refusal), and the build completes."""

from __future__ import annotations

import json
import os

import pytest

from services_app.capabilities.knowledgebase.jobs import build
from services_app.errors import ServiceError

from .pdfs import encrypted_pdf, text_pdf


def _result(ctx, **params):
    return build(ctx, {"name": "kb", "source": "src", **params})


def _by_path(result):
    return {e["path"]: e for e in result["errors"]}


@pytest.fixture
def src(data_roots):
    path = data_roots / "src"
    path.mkdir()
    (path / "good.txt").write_text("a good file", encoding="utf-8")
    return path


def _texts(storage):
    out = storage.data_root / "knowledgebases/kb/output/knowledge.jsonl"
    return {r["path"]: r["text"] for r in map(json.loads, out.read_text(encoding="utf-8").splitlines())}


def test_source_outside_the_data_root(ctx, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(ServiceError) as exc:
        build(ctx, {"name": "kb", "source": str(outside)})
    assert exc.value.status == 403 and exc.value.code == "path_outside_root"
    with pytest.raises(ServiceError) as exc:
        build(ctx, {"name": "kb", "source": "../elsewhere"})
    assert exc.value.status == 400 and exc.value.code == "path_outside_root"


def test_symlink_out_of_the_data_root_is_not_followed(ctx, storage, src, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not index me")
    (src / "link.txt").symlink_to(secret)
    result = _result(ctx)
    assert result["skipped"] == [
        {"rel": "link.txt", "reason": "symlink leads outside the data root; not followed", "code": "outside_root"}
    ]
    assert "do not index me" not in json.dumps(_texts(storage))


def test_symlink_loop(ctx, storage, src):
    (src / "sub").mkdir()
    (src / "sub" / "doc.md").write_text("# Inside")
    (src / "sub" / "back").symlink_to(src, target_is_directory=True)  # folder loop
    (src / "self.txt").symlink_to(src / "self.txt")  # a link to itself
    result = _result(ctx)
    codes = {s["rel"]: s["code"] for s in result["skipped"]}
    assert codes == {"self.txt": "symlink_loop", "sub/back": "symlink_loop"}
    assert set(_texts(storage)) == {"good.txt", "sub/doc.md"}


def test_zero_byte_file(ctx, storage, src):
    (src / "empty.txt").write_bytes(b"")
    (src / "empty.pdf").write_bytes(b"")
    result = _result(ctx)
    assert set(result["empty"]) == {"empty.txt", "empty.pdf"} and result["errors"] == []
    assert result["counts"]["documents"] == 1 and result["counts"]["empty"] == 2


def test_binary_file_with_a_txt_name(ctx, storage, src):
    (src / "photo.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    (src / "latin1.txt").write_bytes("Gr\xfc\xdfe aus K\xf6ln, sch\xf6ne Gr\xfc\xdfe".encode("latin-1"))
    result = _result(ctx)
    assert _by_path(result)["photo.txt"]["code"] == "binary"
    assert "not a text file" in _by_path(result)["photo.txt"]["reason"]
    assert "Köln" in _texts(storage)["latin1.txt"]  # a legacy encoding is detected, not refused


def test_corrupt_pdf(ctx, storage, src):
    (src / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")
    (src / "truncated.pdf").write_bytes(text_pdf(["fine text"])[:120])
    (src / "ok.pdf").write_bytes(text_pdf(["fine text"]))
    result = _result(ctx)
    errors = _by_path(result)
    assert errors["broken.pdf"]["code"] == "corrupt" and errors["broken.pdf"]["reason"].startswith("corrupt pdf")
    assert errors["truncated.pdf"]["code"] == "corrupt"
    assert _texts(storage)["ok.pdf"] == "fine text"


def test_encrypted_pdf(ctx, storage, src):
    import pypdfium2 as pdfium

    data = encrypted_pdf(user_password="secret")
    assert len(pdfium.PdfDocument(data, password="secret")) == 1  # a real encrypted pdf
    (src / "locked.pdf").write_bytes(data)
    result = _result(ctx)
    assert _by_path(result)["locked.pdf"] == {
        "path": "locked.pdf",
        "code": "encrypted",
        "reason": "encrypted pdf: it needs a password to open",
    }
    assert result["counts"]["documents"] == 1


def test_corrupt_office_and_json_files(ctx, storage, src):
    (src / "bad.docx").write_bytes(b"PK\x03\x04 not really a zip")
    (src / "bad.xlsx").write_bytes(b"nope")
    (src / "bad.json").write_text('{"a": ')
    (src / "bad.jsonl").write_text('{"a": 1}\n{oops}\n')
    (src / "image.png").write_bytes(b"\x89PNG")
    result = _result(ctx)
    errors = _by_path(result)
    assert {p: e["code"] for p, e in errors.items()} == {
        "bad.docx": "corrupt",
        "bad.xlsx": "corrupt",
        "bad.json": "corrupt",
        "bad.jsonl": "corrupt",
        "image.png": "unsupported",
    }
    assert "line 2" in errors["bad.jsonl"]["reason"]


def test_non_utf8_file_names(ctx, storage, src):
    raw_dir = os.path.join(os.fsencode(src), b"caf\xe9")  # latin-1 folder name
    os.mkdir(raw_dir)
    with open(os.path.join(raw_dir, b"r\xe9sum\xe9.txt"), "wb") as f:
        f.write(b"non-utf8 name, utf8 content")
    result = _result(ctx)
    texts = _texts(storage)
    assert texts["caf\ufffd/r\ufffdsum\ufffd.txt"] == "non-utf8 name, utf8 content"
    assert result["counts"]["documents"] == 2
    # incremental state keys on the exact bytes: nothing is re-read
    again = _result(ctx)
    assert again["unchanged"] == 2 and again["files_read"] == 0


def test_very_deep_tree(ctx, storage, src):
    deep = os.fsencode(src)
    for i in range(300):
        deep = os.path.join(deep, b"d%d" % (i % 10))
    os.makedirs(deep)
    with open(os.path.join(deep, b"bottom.txt"), "wb") as f:
        f.write(b"at the bottom")
    result = _result(ctx, max_depth=400)
    bottom = [p for p in _texts(storage) if p.endswith("bottom.txt")]
    assert len(bottom) == 1 and bottom[0].count("/") == 300
    assert result["counts"]["documents"] == 2
    # with a depth limit the deep part is reported, not read
    limited = _result(ctx, max_depth=50)
    assert [s["code"] for s in limited["skipped"]] == ["too_deep"]
    assert limited["removed"] == 1 and set(_texts(storage)) == {"good.txt"}
