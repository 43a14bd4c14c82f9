"""What crosses the celery executor's broker: our records as JSON, and nothing else read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.barcode import PageMarker
from pipeline.document import Barcode, FieldResult, FieldStatus, Page
from pipeline.errors import BadInput, ReasonCode, ToolMissing
from pipeline.ingest import SourceFile
from pipeline.reader import PageResult
from pipeline.service.reading import Broken, Crashed, Failed
from pipeline.service.wire import WireError, decode, encode


def over_the_wire(value: object) -> object:
    return decode(json.loads(json.dumps(encode(value))))


def test_a_pages_reading_and_an_opened_file_come_back_equal() -> None:
    page = PageResult(
        Page(3, text="Leverans 送货单", barcodes=(Barcode("CODE128", "DN-1 1/2", 3, (1, 2, 3, 4), 90),), rotated=90, skew=0.5),
        kind="signoff",
        delivery_number="DN-1",
        dn_source="barcode",
        marker=PageMarker("DN-1", 1, 2),
        fields={"customer": FieldResult(FieldStatus.OK, "Acme", 91.5), "items": FieldResult(FieldStatus.OK, [{"sku": "A-1", "qty": 3}])},
        items=FieldResult(FieldStatus.MISSING, note="no item table found"),
        label_fields={"customer", "items"},
    )
    assert over_the_wire(page) == page
    assert isinstance(over_the_wire(page).fields["customer"].status, FieldStatus)  # type: ignore[attr-defined]
    src = SourceFile(Path("depot/odd \udcff name.pdf"), "pdf", "0" * 64, 3, 300)  # a name that is not UTF-8
    assert over_the_wire(src) == src
    assert over_the_wire(Crashed("the reader failed")) == Crashed("the reader failed")


def test_errors_come_back_as_the_same_class_reason_and_message() -> None:
    failed = over_the_wire(Failed(BadInput("x.pdf is empty", reason=ReasonCode.ZERO_BYTES, stage="ingest")))
    assert isinstance(failed, Failed) and type(failed.error) is BadInput
    assert (failed.error.message, failed.error.reason, failed.error.stage) == ("x.pdf is empty", ReasonCode.ZERO_BYTES, "ingest")
    broken = over_the_wire(Broken(ToolMissing("tesseract is not installed")))
    assert isinstance(broken, Broken) and type(broken.error) is ToolMissing


@pytest.mark.parametrize(
    "data",
    [
        {"$type": "os:system", "command": "true"},  # not ours
        {"$type": "subprocess:Popen", "args": ["true"]},
        {"$type": "pipeline.__main__:main"},  # ours, but a module nobody here imported: never imported for it
        {"$type": "pipeline.run:Pipeline", "settings": None},  # ours, but not a record
        {"$type": "pipeline.ingest:sha256_file", "path": "/etc/passwd"},
    ],
)
def test_anything_but_our_own_records_is_refused(data: dict[str, object]) -> None:
    with pytest.raises(WireError):
        decode(data)


def test_what_cannot_be_sent_says_so() -> None:
    with pytest.raises(TypeError):
        encode(object())
    with pytest.raises(TypeError):
        encode({"$type": "smuggled"})
