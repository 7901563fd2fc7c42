"""The knowledge base build's pure steps, on plain data: which files are kept, read, not read, removed."""

from __future__ import annotations

import hashlib

from services_app.capabilities.knowledgebase.build import BuildOptions, Plan, plan_changes
from services_app.capabilities.knowledgebase.walk import FileEntry


def _entry(tmp_path, name: str, content: bytes, mtime_ns: int) -> FileEntry:
    path = tmp_path / name
    path.write_bytes(content)
    ext = "." + name.rsplit(".", 1)[1] if "." in name else ""
    return FileEntry(path=bytes(path), rel=name.encode(), size=len(content), mtime_ns=mtime_ns, ext=ext)


def test_plan_changes_keeps_reads_and_lists_each_file_once(tmp_path):
    opts = BuildOptions(name="kb", source="x", max_file_size=100)
    same = _entry(tmp_path, "same.txt", b"same", 1)
    touched = _entry(tmp_path, "touched.txt", b"touched", 5)  # new mtime, same content
    edited = _entry(tmp_path, "edited.txt", b"edited!", 5)  # same size, other content
    new = _entry(tmp_path, "new.md", b"new", 1)
    binary = _entry(tmp_path, "tool.exe", b"MZ", 1)
    huge = _entry(tmp_path, "huge.txt", b"x" * 101, 1)
    prev = {
        b"same.txt": (4, 1, hashlib.sha256(b"same").hexdigest()),
        b"touched.txt": (7, 1, hashlib.sha256(b"touched").hexdigest()),
        b"edited.txt": (7, 1, hashlib.sha256(b"edited?").hexdigest()),
        b"gone.txt": (3, 1, "00"),
    }
    plan = plan_changes([same, touched, edited, new, binary, huge], prev, opts, same_config=True)
    assert isinstance(plan, Plan)
    assert [e.rel for e in plan.unchanged] == [b"same.txt"]
    assert [e.rel for e in plan.touched] == [b"touched.txt"]
    assert [e.rel for e in plan.to_read] == [b"edited.txt", b"new.md"]
    assert {k: v["code"] for k, v in plan.not_read.items()} == {b"tool.exe": "unsupported", b"huge.txt": "too_large"}
    assert plan.removed == [b"gone.txt"]
    assert dict(plan.counts) == {"unchanged": 2, "changed": 1, "added": 3, "removed": 1}


def test_a_new_extraction_config_reads_everything_again(tmp_path):
    opts = BuildOptions(name="kb", source="x")
    same = _entry(tmp_path, "same.txt", b"same", 1)
    prev = {b"same.txt": (4, 1, hashlib.sha256(b"same").hexdigest())}
    plan = plan_changes([same], prev, opts, same_config=False)
    assert [e.rel for e in plan.to_read] == [b"same.txt"] and plan.unchanged == [] and plan.counts["changed"] == 1
