from __future__ import annotations

import json
from pathlib import Path

import pytest

from services_app.jobs.context import JobContext
from services_app.storage import Storage
from tests.gcs_fixtures import gcs, gcs_emulator  # noqa: F401

from .pdfs import text_pdf


def make_tree(src: Path) -> Path:
    """A small master folder with one file of every supported format."""
    import docx
    import openpyxl

    (src / "esg" / "reports").mkdir(parents=True)
    (src / "news" / "2024").mkdir(parents=True)
    (src / "esg" / "reports" / "water.txt").write_text(
        "Water usage fell by ten percent.\n\nThe plant recycles cooling water.", encoding="utf-8"
    )
    (src / "esg" / "policy.md").write_text("# Emissions policy\n\nWe cut scope 1 emissions.\n", encoding="utf-8")
    (src / "news" / "2024" / "launch.html").write_text(
        "<html><head><title>Launch day</title><style>p{color:red}</style></head><body>"
        "<p>New <b>solar</b> park opens.</p><script>var secret = 'tracking';</script><p>Second paragraph.</p>"
        "</body></html>",
        encoding="utf-8",
    )
    (src / "esg" / "reports" / "annual.pdf").write_bytes(text_pdf(["Page one text", "Page two text"], title="Annual"))
    d = docx.Document()
    d.add_heading("Board minutes", level=1)
    d.add_paragraph("The board approved the budget.")
    d.save(src / "news" / "minutes.docx")
    (src / "news" / "prices.csv").write_text("product,price\nsolar panel,120\nbattery,80\n", encoding="utf-8")
    (src / "news" / "stock.tsv").write_text("item\tcount\nbolts\t5\n", encoding="utf-8")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Sites"
    ws.append(["site", "country"])
    ws.append(["Hamburg", "DE"])
    wb.save(src / "esg" / "sites.xlsx")
    (src / "news" / "meta.json").write_text(json.dumps({"title": "Meta", "tags": ["a", "b"], "info": {"k": "v"}}))
    (src / "news" / "events.jsonl").write_text('{"event": "open", "n": 1}\n{"event": "close", "n": 2}\n')
    (src / "root.txt").write_text("at the root", encoding="utf-8")
    return src


@pytest.fixture
def storage(data_roots) -> Storage:
    return Storage(data_root=data_roots)


@pytest.fixture
def ctx(storage) -> JobContext:
    return JobContext(storage=storage)


@pytest.fixture
def tree(data_roots) -> Path:
    return make_tree(data_roots / "master")
