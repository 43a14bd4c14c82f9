"""The search index on real whoosh: query forms, rebuild, schema guard, replace, snippets."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import ArchiveUnwritable
from pipeline.index import (
    QUERY_HELP,
    SCHEMA_VERSION,
    Hit,
    IndexLocked,
    IndexMissing,
    IndexSchemaMismatch,
    IndexStore,
    iter_sidecars,
    parse_query,
    rebuild,
)

NORDIC = "nordic-timber-ab/2025/03/DN-2025-004817.pdf"
GOTEBORG = "byggvaror-i-goteborg-ab/2025/03/DN-2025-004818.pdf"
HENGDA = "shanghai-hengda/2025/04/DN-2025-004901.pdf"
ACME = "acme-corporation/2025/04/DN-2025-004950.pdf"
UNKNOWN = "_unknown/2025/04/DN-2025-005001.pdf"
OLD = "acme-corporation/2024/12/DN-2024-009999.pdf"
INVOICE = "nordic-timber-ab/2025/03/invoice-7781.pdf"
ALL = {NORDIC, GOTEBORG, HENGDA, ACME, UNKNOWN, OLD, INVOICE}
DN2025 = {NORDIC, GOTEBORG, HENGDA, ACME, UNKNOWN}


def sheet(
    path: str,
    *,
    delivery: str | None,
    customer: str | None,
    date: str | None,
    text: str,
    statuses: dict[str, str],
    items: list[dict[str, Any]] | None = None,
    receiver: str | None = None,
    remarks: str | None = None,
    customer_id: str | None = None,
) -> dict[str, Any]:
    """A sign-off sidecar as the filing stage writes it."""
    values = {"customer": customer, "items": items, "time": date and f"{date}T10:30", "receiver": receiver}
    fields: dict[str, Any] = {
        name: {"status": status, "value": values.get(name) if status == "ok" else None}
        for name, status in statuses.items()
    }
    if remarks is not None:
        fields["remarks"] = {"status": "ok", "value": remarks}
    complete = delivery is not None and all(
        statuses[name] != "missing" for name in ("customer", "items", "time", "signature")
    )
    name = path.rsplit("/", 1)[1]
    return {
        "schema": 1,
        "doc_id": name.removesuffix(".pdf"),
        "kind": "signoff",
        "delivery_number": delivery,
        "customer": customer,
        "customer_id": customer_id,
        "date": date,
        "fields": fields,
        "complete": complete,
        "barcodes": [{"symbology": "CODE128", "data": delivery, "page": 1}] if delivery else [],
        "text": text,
        "source": {"name": "scan-0001.pdf", "sha256": "0" * 64, "pages": [1]},
        "file": {"name": name, "sha256": "1" * 64, "path": path},
        "version": 1,
        "processed_at": "2026-11-24T14:30:00+00:00",
        "software": {"name": "signoff", "version": "0.1.0"},
    }


OK = {"customer": "ok", "items": "ok", "time": "ok", "signature": "ok", "receiver": "ok"}

SIDECARS = [
    sheet(
        NORDIC,
        delivery="DN-2025-004817",
        customer="Nordic Timber AB",
        date="2025-03-14",
        text="Delivery note DN-2025-004817\nCustomer: Nordic Timber AB\nStorgatan 1\nItems\n"
        "A-1001 Pine board 2x4 12\nReceived: 2025-03-14 10:30\nRemarks: 2 cartons damaged\nSignature:",
        statuses={**OK, "signature": "missing", "receiver": "missing"},
        items=[{"sku": "A-1001", "description": "Pine board 2x4", "qty": 12}],
        remarks="2 cartons damaged",
    ),
    sheet(
        GOTEBORG,
        delivery="DN-2025-004818",
        customer="Byggvaror i Göteborg AB",
        date="2025-03-31",
        text="Följesedel DN-2025-004818\nKund: Byggvaror i Göteborg AB\nArtikel Benämning Antal\n"
        "B-2002 Spånskiva 12 mm 40\nMottaget 2025-03-31 08:15\nMottagen av Åsa Öberg\nUnderskrift",
        statuses=OK,
        items=[{"sku": "B-2002", "description": "Spånskiva 12 mm", "qty": 40}],
        receiver="Åsa Öberg",
    ),
    sheet(
        HENGDA,
        delivery="DN-2025-004901",
        customer="上海恒达物流有限公司",
        customer_id="C-0042",
        date="2025-04-02",
        text="送货单号 DN-2025-004901\n客户: 上海恒达物流有限公司\n货品 品名 数量\nC-3003 螺丝 M8 500\n"
        "签收时间 2025年4月2日 14:00\n签收人 王伟\n签名",
        statuses=OK,
        items=[{"sku": "C-3003", "description": "螺丝 M8", "qty": 500}],
        receiver="王伟",
    ),
    sheet(
        ACME,
        delivery="DN-2025-004950",
        customer="Acme Corporation",
        date="2025-04-15",
        text="Delivery note DN-2025-004950\nConsignee: Acme Corporation\nA-1001 Pine board 2x4 6\n"
        "D-4004 Steel bracket 20\nReceived: (smudged)\nSignature",
        statuses={**OK, "time": "unreadable"},
        items=[
            {"sku": "A-1001", "description": "Pine board 2x4", "qty": 6},
            {"sku": "D-4004", "description": "Steel bracket", "qty": 20},
        ],
        receiver="Jane Doe",
    ),
    sheet(
        UNKNOWN,
        delivery="DN-2025-005001",
        customer=None,
        date="2025-04-20",
        text="Delivery note DN-2025-005001\nCustomer:\nE-5005 Cable ties 100\nReceived 2025-04-20 16:45",
        statuses={**OK, "customer": "missing", "signature": "missing", "receiver": "missing"},
        items=[{"sku": "E-5005", "description": "Cable ties", "qty": 100}],
    ),
    sheet(
        OLD,
        delivery="DN-2024-009999",
        customer="Acme Corporation",
        date="2024-12-30",
        text="Delivery note DN-2024-009999\nShip to: Acme Corporation\nF-6006 Nails 1000\n"
        "Received 2024-12-30 09:00\nSignature\nDelivered by Nordic Freight",
        statuses=OK,
        items=[{"sku": "F-6006", "description": "Nails", "qty": 1000}],
        receiver="John Smith",
    ),
    {  # a page that is not a sign-off sheet: no field checks, no delivery number, no date
        "schema": 1,
        "doc_id": "invoice-7781",
        "kind": "other",
        "delivery_number": None,
        "customer": "Nordic Timber AB",
        "date": None,
        "complete": False,
        "text": "INVOICE 7781\nNordic Timber AB\nAmount due 1 200 SEK",
        "file": {"name": "invoice-7781.pdf", "path": INVOICE},
    },
]

QUERIES = [
    # free words: OCR text, customer, items, receiver, remarks
    ("pine", {NORDIC, ACME}),
    ("timber", {NORDIC, INVOICE}),
    ("damaged", {NORDIC}),
    ("pine steel", {ACME}),
    ('"pine board"', {NORDIC, ACME}),
    ("DN-2025-004818", {GOTEBORG}),
    ("xylophone", set()),
    # customer: name words, phrase, customer id
    ("customer:nordic", {NORDIC, INVOICE}),
    ('customer:"nordic timber"', {NORDIC, INVOICE}),
    ('customer:"timber nordic"', set()),
    ("customer:acme", {ACME, OLD}),
    ("customer:C-0042", {HENGDA}),
    ("customer:byggv*", {GOTEBORG}),
    # delivery: exact (any case) and prefix
    ("delivery:DN-2025-004817", {NORDIC}),
    ("delivery:dn-2025-004817", {NORDIC}),
    ("delivery:DN-2025-0048", set()),
    ("delivery:DN-2025-0049*", {HENGDA, ACME}),
    ("delivery:DN-2025-00*", DN2025),
    # date: day, month, year, inclusive ranges (open ends too)
    ("date:2025-03-14", {NORDIC}),
    ("date:2025-03", {NORDIC, GOTEBORG}),
    ("date:2025", DN2025),
    ("date:2024", {OLD}),
    ("date:[2025-03-15 to 2025-04-15]", {GOTEBORG, HENGDA, ACME}),
    ("date:[2025-03-31 TO 2025-04-02]", {GOTEBORG, HENGDA}),
    ("date:[2025-04 to]", {HENGDA, ACME, UNKNOWN}),
    ("date:[to 2025-03]", {OLD, NORDIC, GOTEBORG}),
    # sku, statuses, kind
    ("sku:A-1001", {NORDIC, ACME}),
    ("sku:b-20*", {GOTEBORG}),
    ("missing:signature", {NORDIC, UNKNOWN}),
    ("missing:customer", {UNKNOWN}),
    ("missing:delivery", {INVOICE}),
    ("unreadable:time", {ACME}),
    ("complete:no", {NORDIC, UNKNOWN, INVOICE}),
    ("status:incomplete", {NORDIC, UNKNOWN, INVOICE}),
    ("complete:yes", {GOTEBORG, HENGDA, ACME, OLD}),
    ("kind:other", {INVOICE}),
    # case and accent folding
    ("goteborg", {GOTEBORG}),
    ("GÖTEBORG", {GOTEBORG}),
    ("spanskiva", {GOTEBORG}),
    ("receiver:asa", {GOTEBORG}),
    # Chinese: any run of 2+ characters inside the text
    ("恒达", {HENGDA}),
    ("恒达物流", {HENGDA}),
    ("上海恒达物流有限公司", {HENGDA}),
    ("customer:恒达", {HENGDA}),
    ("螺丝", {HENGDA}),
    ("物流公司", set()),
    # combinations
    ("customer:acme date:2025-04", {ACME}),
    ("delivery:DN-2025-004817 OR delivery:DN-2025-004818", {NORDIC, GOTEBORG}),
    ("date:2025 NOT complete:yes", {NORDIC, UNKNOWN}),
    ("complete:no kind:signoff", {NORDIC, UNKNOWN}),
    ("(customer:nordic OR customer:acme) pine", {NORDIC, ACME}),
]


def write_archive(root: Path) -> Path:
    """Write SIDECARS in the archive layout, plus files a scan must ignore or survive."""
    for sidecar in SIDECARS:
        pdf = root / sidecar["file"]["path"]
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(b"%PDF-1.4\n")
        pdf.with_suffix(".json").write_text(json.dumps(sidecar, ensure_ascii=False), encoding="utf-8")
    quarantine = root / "_quarantine" / "2025-03-14"
    quarantine.mkdir(parents=True)
    (quarantine / "x.pdf.reason.json").write_text(json.dumps({"code": "bad_input.encrypted_pdf"}))
    stray = sheet("_quarantine/2025-03-14/x.pdf", delivery="DN-9", customer="Nordic", date=None, text="", statuses=OK)
    (quarantine / "x.json").write_text(json.dumps(stray))
    (root / "acme-corporation" / "2025" / "04" / "broken.json").write_text("{not json", encoding="utf-8")
    (root / "acme-corporation" / "2025" / "04" / "list.json").write_text("[1, 2]", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def incremental(archive: Path) -> IndexStore:
    store = IndexStore.open(archive / "_index")
    assert store.add(SIDECARS) == len(SIDECARS)
    return store


@pytest.fixture(scope="module")
def rebuilt(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    index_dir = tmp_path_factory.mktemp("rebuilt") / "_index"
    assert rebuild(index_dir, archive) == len(SIDECARS)
    return IndexStore.open(index_dir, create=False)


def paths(hits: list[Hit]) -> set[str]:
    found = [hit.path for hit in hits]
    assert len(found) == len(set(found)), "a document came back twice"
    return set(found)


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query_finds_exactly(incremental: IndexStore, rebuilt: IndexStore, query: str, expected: set[str]) -> None:
    assert paths(incremental.search(query, limit=50)) == expected
    assert paths(rebuilt.search(query, limit=50)) == expected


def test_counts(incremental: IndexStore, rebuilt: IndexStore) -> None:
    assert incremental.count() == rebuilt.count() == len(SIDECARS)


def test_customer_match_outranks_body_text(incremental: IndexStore) -> None:
    hits = incremental.search("nordic")
    assert paths(hits) == {NORDIC, INVOICE, OLD}
    assert hits[-1].path == OLD  # "Nordic" only in its OCR text
    assert hits[0].score >= hits[1].score > hits[2].score


def test_limit(incremental: IndexStore) -> None:
    assert len(incremental.search("date:2025", limit=2)) == 2
    with pytest.raises(ValueError):
        incremental.search("pine", limit=0)


def test_hit_fields_and_json(incremental: IndexStore) -> None:
    (hit,) = incremental.search("delivery:DN-2025-004817")
    assert hit == Hit(
        path=NORDIC,
        delivery_number="DN-2025-004817",
        customer="Nordic Timber AB",
        date="2025-03-14",
        complete=False,
        kind="signoff",
        statuses={"customer": "ok", "items": "ok", "time": "ok", "signature": "missing", "receiver": "missing"},
        snippet=hit.snippet,
        score=hit.score,
        version=1,
        latest=True,
        customer_id=None,
        signed=False,
    )
    data = json.loads(json.dumps(hit.to_json()))
    assert {"delivery_number", "customer", "date", "complete", "path", "snippet", "kind", "statuses", "score"} <= set(data)
    assert (data["status"], data["signed"], data["version"], data["latest"]) == ("incomplete", False, 1, True)
    (other,) = incremental.search("kind:other")
    assert (other.delivery_number, other.date, other.statuses, other.complete) == (None, None, {}, False)
    assert other.signed is None


@pytest.mark.parametrize(
    ("query", "marked"),
    [
        ("damaged", "[[damaged]]"),
        ("GÖTEBORG", "[[Göteborg]]"),
        ("goteborg", "[[Göteborg]]"),
        ("恒达", "[[恒达]]"),
        ("恒达物流", "[[恒达物流]]"),
        ("customer:nordic", "[[Nordic]]"),
        ('"pine board"', "[[Pine]] [[board]]"),
        ("A-1001", "[[A-1001]]"),
    ],
)
def test_snippet_marks_matched_words(incremental: IndexStore, query: str, marked: str) -> None:
    hits = incremental.search(query)
    assert hits
    for hit in hits:
        assert marked in hit.snippet, hit.snippet
        assert len(hit.snippet) <= 260
        assert "\n" not in hit.snippet


def test_snippet_falls_back_to_start_of_text(incremental: IndexStore) -> None:
    (hit,) = incremental.search("sku:B-2002")
    assert "[[" not in hit.snippet
    assert hit.snippet.startswith("Följesedel DN-2025-004818 Kund: Byggvaror")
    assert len(hit.snippet) <= 121


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_rejected(incremental: IndexStore, query: str) -> None:
    with pytest.raises(ValueError, match="empty query"):
        incremental.search(query)


@pytest.mark.parametrize(
    "query",
    [
        "date:2025-13",
        "date:2025-02-30",
        "date:March",
        "date:[2025-04-01 to 2025-03-01]",
        "date:[to]",
        "missing:signatur",
        "unreadable:delivery",
        "complete:maybe",
        "status:done",
        "delivery:*",
        "customer:*",
        "customer:",
        'customer:"nordic',
    ],
)
def test_malformed_prefix_is_rejected(incremental: IndexStore, query: str) -> None:
    with pytest.raises(ValueError):
        incremental.search(query)


def test_iter_sidecars_skips_underscore_folders_and_bad_json(archive: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        found = list(iter_sidecars(archive))
    json_paths = [p for p, _ in found]
    assert json_paths == sorted(json_paths)
    assert {p.relative_to(archive).with_suffix(".pdf").as_posix() for p in json_paths} == ALL
    assert "broken.json" in caplog.text and "list.json" in caplog.text


def test_add_replaces_by_path(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "index")
    store.add([SIDECARS[0]])
    changed = json.loads(json.dumps(SIDECARS[0]))
    changed["fields"]["remarks"]["value"] = "pallet wet"
    changed["text"] = changed["text"].replace("2 cartons damaged", "pallet wet")
    assert store.add([changed]) == 1
    assert store.count() == 1
    assert store.search("damaged") == []
    assert paths(store.search("wet")) == {NORDIC}
    assert store.add([SIDECARS[0], changed]) == 1  # same path twice in one batch: the last wins
    assert store.count() == 1
    assert paths(store.search("wet")) == {NORDIC}


def test_add_rejects_sidecar_without_path(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "index")
    bad = {k: v for k, v in SIDECARS[1].items() if k != "file"}
    with pytest.raises(ValueError, match="file.path"):
        store.add([SIDECARS[0], bad])
    assert store.count() == 0


def test_delete(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "index")
    store.add(SIDECARS)
    assert store.delete([NORDIC, NORDIC, "no/such.pdf"]) == 1
    assert store.count() == len(SIDECARS) - 1
    assert store.search("damaged") == []


def test_store_opens_lazily_and_as_context_manager(incremental: IndexStore, archive: Path) -> None:
    with IndexStore(archive / "_index") as store:
        assert paths(store.search("damaged")) == {NORDIC}


def test_open_without_create_needs_an_index(tmp_path: Path) -> None:
    with pytest.raises(IndexMissing):
        IndexStore.open(tmp_path / "none", create=False)
    assert not (tmp_path / "none").exists()


def test_schema_version_mismatch_is_raised_not_repaired(tmp_path: Path) -> None:
    index_dir = tmp_path / "archive" / "_index"
    IndexStore.open(index_dir).close()
    sentinel = next(p for p in index_dir.iterdir() if p.suffix == ".json")
    sentinel.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1}))
    with pytest.raises(IndexSchemaMismatch) as caught:
        IndexStore.open(index_dir)
    assert caught.value.found == SCHEMA_VERSION + 1
    assert json.loads(sentinel.read_text()) == {"schema_version": SCHEMA_VERSION + 1}  # left alone
    sentinel.unlink()
    with pytest.raises(IndexSchemaMismatch):
        IndexStore.open(index_dir)

    write_archive(tmp_path / "archive")
    assert rebuild(index_dir, tmp_path / "archive") == len(SIDECARS)
    assert IndexStore.open(index_dir).count() == len(SIDECARS)


def test_damaged_or_half_swapped_index_is_not_recreated(tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "something").write_text("x")
    with pytest.raises(IndexSchemaMismatch):
        IndexStore.open(junk)
    assert [p.name for p in junk.iterdir()] == ["something"]
    (tmp_path / "idx.old").mkdir()
    with pytest.raises(IndexSchemaMismatch, match="interrupted"):
        IndexStore.open(tmp_path / "idx")


@pytest.mark.parametrize("damage", [b"", b"garbage" * 50, b"truncate"])
def test_damaged_index_raises_schema_mismatch(tmp_path: Path, damage: bytes) -> None:
    index_dir = tmp_path / "index"
    IndexStore.open(index_dir).add(SIDECARS)
    (toc,) = [p for p in index_dir.iterdir() if p.suffix == ".toc"]
    good = toc.read_bytes()
    toc.write_bytes(good[: len(good) // 2] if damage == b"truncate" else damage)
    with pytest.raises(IndexSchemaMismatch, match="damaged"):
        IndexStore.open(index_dir)
    assert toc.exists()  # not deleted, not recreated


def test_rebuild_swaps_in_place_and_reports_progress(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    index_dir = archive / "_index"
    IndexStore.open(index_dir).add([sheet("gone/2025/01/x.pdf", delivery="DN-0", customer="Gone", date=None, text="", statuses=OK)])
    seen: list[int] = []
    assert rebuild(index_dir, archive, progress=seen.append) == len(SIDECARS)
    assert seen == list(range(1, len(SIDECARS) + 1))
    assert sorted(p.name for p in archive.iterdir() if p.name.startswith("_index")) == ["_index"]
    store = IndexStore.open(index_dir, create=False)
    assert store.count() == len(SIDECARS)
    assert store.search("customer:gone") == []


def test_rebuild_refuses_a_missing_archive(tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    IndexStore.open(index_dir).add(SIDECARS)
    with pytest.raises(ArchiveUnwritable):
        rebuild(index_dir, tmp_path / "not-mounted")
    assert IndexStore.open(index_dir).count() == len(SIDECARS)


def test_locked_index_raises_index_locked(tmp_path: Path) -> None:
    import whoosh.index  # only to play the other process holding the lock

    index_dir = tmp_path / "index"
    IndexStore.open(index_dir).close()
    other = whoosh.index.open_dir(str(index_dir)).writer()
    try:
        store = IndexStore.open(index_dir, lock_timeout=0.2)
        with pytest.raises(IndexLocked, match="locked"):
            store.add(SIDECARS[:1])
        with pytest.raises(IndexLocked):
            rebuild(index_dir, write_archive(tmp_path / "archive"), lock_timeout=0.2)
        assert store.search("pine") == []  # reading needs no lock
    finally:
        other.cancel()
    assert store.add(SIDECARS[:1]) == 1


def test_errors_are_archive_unwritable() -> None:
    for error in (IndexSchemaMismatch, IndexLocked, IndexMissing):
        assert issubclass(error, ArchiveUnwritable)


def test_every_example_in_query_help_parses() -> None:
    examples = re.findall(r'\b(\w+):("[^"]*"|\[[^\]]*\]|[^\s|]+(?:\|[^\s|]+)*)', QUERY_HELP)
    assert len(examples) > 15
    for prefix, value in examples:
        for alternative in value.split("|") if not value.startswith(("[", '"')) else [value]:
            if alternative != "...":
                assert parse_query(f"{prefix}:{alternative}") is not None


def test_rebuild_writes_what_whoosh_own_writer_writes(archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rebuild's writer only keeps the field lengths its commit reads in memory: same files, byte for byte."""
    from whoosh.writing import SegmentWriter

    from pipeline.index import store as store_module

    def files(index_dir: Path) -> dict[str, bytes]:
        return {p.name.split(".", 1)[1]: p.read_bytes() for p in index_dir.iterdir() if p.suffix in (".col", ".pst", ".trm")}

    rebuild(tmp_path / "ours", archive)
    monkeypatch.setattr(store_module, "_BuildWriter", SegmentWriter)
    rebuild(tmp_path / "whoosh", archive)
    ours, whoosh = files(tmp_path / "ours"), files(tmp_path / "whoosh")
    assert ours == whoosh and "pst" in ours


def test_field_lengths_held_in_memory_are_whoosh_own(tmp_path: Path) -> None:
    """Scoring reads field lengths from memory; they are what whoosh's reader says for every document."""
    store = IndexStore.open(tmp_path / "_index")
    store.add(SIDECARS[:3])
    store.add(SIDECARS[3:])  # a second segment
    searcher = store._fresh_searcher()
    leaves = [s for s, _ in searcher.subsearchers] if searcher.subsearchers else [searcher]
    assert len(leaves) == 2
    for leaf in leaves:
        reader = leaf.reader()
        assert type(leaf.doc_field_length).__name__ == "_SegmentLengths"
        for docnum in range(reader.doc_count_all()):
            for field in ("text", "customer", "items", "receiver", "remarks", "delivery"):
                assert leaf.doc_field_length(docnum, field, 1) == reader.doc_field_length(docnum, field, 1)


def test_total_of_a_page_that_does_not_hold_every_match_is_an_upper_estimate(incremental: IndexStore) -> None:
    every = incremental.search("date:2025", limit=None)
    page = incremental.query("date:2025", limit=2)
    assert len(page.hits) == 2 < len(every)
    assert not page.total_exact and page.total >= len(every)
    whole = incremental.query("date:2025", limit=50)
    assert whole.total_exact and whole.total == len(every)
