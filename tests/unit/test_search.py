"""`signoff search` on real whoosh: every query form, rescans, paging, suggestions, concurrency, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pipeline.cli import cli
from pipeline.index import (
    SCHEMA_VERSION,
    IndexLocked,
    IndexSchemaMismatch,
    IndexStore,
    find_records,
    open_or_rebuild,
    rebuild,
)
from pipeline.index.query import compile_query

ROOT = Path(__file__).resolve().parents[2]

A = "Nordic-Timber-AB/2025/03/DN-2025-000101.pdf"
B = "Göteborgs-Hamnlager-AB/2025/03/DN-2025-000102.pdf"
C = "上海恒达物流有限公司/2025/04/DN-2025-000103.pdf"
D = "Brightwater-Supplies-Ltd/2026/11/DN-2025-000201.pdf"  # no receipt time: filed when processed
E1 = "Redwood-Construction-Inc/2025/02/DN-2025-000104.pdf"
E2 = "Redwood-Construction-Inc/2025/02/DN-2025-000104.v2.pdf"  # a rescan of E1
F = "_other/2025/03/X-3f2a9c1b7d4e.pdf"
G = "Nordic-Timber-AB/2024/12/DN-2024-000999.pdf"
LATEST = {A, B, C, D, E2, F, G}
EVERY = LATEST | {E1}
SHEETS_2025 = {A, B, C, D, E2}


def sidecar(
    path: str,
    *,
    delivery: str | None,
    customer: str | None,
    customer_id: str | None,
    day: str | None,
    items: list[tuple[str, str, int]],
    text: str,
    signed: bool = True,
    receiver: str | None = None,
    version: int = 1,
    kind: str = "signoff",
) -> dict[str, Any]:
    """A sidecar shaped exactly as filing.build_sidecar writes it."""
    name = path.rsplit("/", 1)[1]
    fields = {
        "customer": {"status": "ok", "value": customer} if customer else {"status": "missing", "value": None, "note": "empty"},
        "items": {"status": "ok", "value": [{"sku": s, "description": d, "qty": q, "unit": None} for s, d, q in items]},
        "time": {"status": "ok", "value": f"{day}T10:30"} if day else {"status": "missing", "value": None, "note": "empty"},
        "receiver": {"status": "ok", "value": receiver} if receiver else {"status": "missing", "value": None, "note": "empty"},
        "signature": {"status": "ok"} if signed else {"status": "missing", "note": "no ink in the box"},
    }
    complete = kind == "signoff" and bool(delivery and customer and items and day and signed)
    return {
        "schema": 1,
        "doc_id": name.removesuffix(".pdf"),
        "kind": kind,
        "delivery_number": delivery,
        "delivery_number_source": "barcode" if delivery else None,
        "customer": customer,
        "customer_id": customer_id,
        "date": day,
        "fields": fields if kind == "signoff" else {},
        "complete": complete,
        "notes": [],
        "barcodes": [{"symbology": "CODE128", "data": delivery, "page": 1}] if delivery else [],
        "text": text,
        "source": {"name": "scan-0001.pdf", "sha256": "0" * 64, "pages": [1]},
        "file": {"name": name, "sha256": "1" * 64, "path": path},
        "version": version,
        "processed_at": "2026-11-24T14:30:00+00:00",
        "software": {"name": "signoff", "version": "0.1.0"},
    }


SIDECARS = [
    sidecar(
        A, delivery="DN-2025-000101", customer="Nordic Timber AB", customer_id="C-1001", day="2025-03-03",
        items=[("A-1001", "Pine board 45x95 mm", 12)], receiver="Anna Lindqvist",
        text="DELIVERY NOTE\nDelivery No.: DN-2025-000101\nCustomer: Nordic Timber AB\nA-1001 Pine board 45x95 mm 12 m\n"
        "Received (date/time): 03/03/2025 10:30\nReceived by: Anna Lindqvist\nCustomer signature",
    ),
    sidecar(
        B, delivery="DN-2025-000102", customer="Göteborgs Hamnlager AB", customer_id="C-1002", day="2025-03-20",
        items=[("PK-2040", "Kartong 40x30x30", 40)], receiver="Märta Öberg", signed=False,
        text="FÖLJESEDEL\nFöljesedel nr: DN-2025-000102\nKund: Göteborgs Hamnlager AB\nSkeppsbron 3\n"
        "PK-2040 Kartong 40x30x30 40 st\nMottaget 2025-03-20 10:30\nMottagen av: Märta Öberg\nUnderskrift\n"
        "Anmärkning: 2 kartonger skadade",
    ),
    sidecar(
        C, delivery="DN-2025-000103", customer="上海恒达物流有限公司", customer_id="C-1008", day="2025-04-02",
        items=[("SE-44120", "螺丝 M6 x 40", 500)], receiver="王伟",
        text="送货单\n送货单号: DN-2025-000103\n客户: 上海恒达物流有限公司\n上海市浦东新区张江路 88 号\n"
        "SE-44120 螺丝 M6 x 40 500 箱\n签收时间 2025年4月2日 10:30\n签收人: 王伟\n客户签字",
    ),
    sidecar(
        D, delivery="DN-2025-000201", customer="Brightwater Supplies Ltd", customer_id="C-1005", day=None,
        items=[("GL-88", "Work gloves, size 9", 30)],
        text="DELIVERY NOTE\nDelivery No.: DN-2025-000201\nCustomer: Brightwater Supplies Ltd\n"
        "GL-88 Work gloves, size 9 30 pcs\nReceived (date/time):\nCustomer signature",
    ),
    sidecar(
        E1, delivery="DN-2025-000104", customer="Redwood Construction Inc.", customer_id="C-1007", day="2025-02-10",
        items=[("HD-7731", "Door hinge, steel", 8)], signed=False,
        text="DELIVERY NOTE\nDelivery No.: DN-2025-000104\nCustomer: Redwood Construction Inc.\n"
        "HD-7731 Door hinge, steel 8 pcs\nReceived 10/02/2025 10:30\nCustomer signature\nsmudged copy",
    ),
    sidecar(
        E2, delivery="DN-2025-000104", customer="Redwood Construction Inc.", customer_id="C-1007", day="2025-02-10",
        items=[("HD-7731", "Door hinge, steel", 8)], receiver="Tom Baker", version=2,
        text="DELIVERY NOTE\nDelivery No.: DN-2025-000104\nCustomer: Redwood Construction Inc.\n"
        "HD-7731 Door hinge, steel 8 pcs\nReceived 10/02/2025 10:30\nReceived by: Tom Baker\nCustomer signature",
    ),
    sidecar(
        F, delivery=None, customer=None, customer_id=None, day=None, items=[], kind="other",
        text="INVOICE 7781\nNordic Timber AB\nAmount due 1 200 SEK\nPayment within 30 days",
    ),
    sidecar(
        G, delivery="DN-2024-000999", customer="Nordic Timber AB", customer_id="C-1001", day="2024-12-30",
        items=[("NL-75", "Nails 75 mm, 1 kg", 10)], receiver="Erik Åström",
        text="FÖLJESEDEL\nFöljesedel nr: DN-2024-000999\nKund: Nordic Timber AB\nNL-75 Spik 75 mm, 1 kg 10 krt\n"
        "Mottaget 30.12.2024 10:30\nMottagen av: Erik Åström\nUnderskrift",
    ),
]

QUERIES: list[tuple[str, set[str]]] = [
    # free words, any case, accents folded
    ("pine", {A}),
    ("PINE Board", {A}),
    ("hamnlager", {B}),
    ("goteborgs", {B}),
    ("GÖTEBORGS", {B}),
    ("hinge", {E2}),
    ("gloves", {D}),
    ("nordic", {A, F, G}),
    # delivery: exact (any case) and prefix
    ("delivery:DN-2025-000101", {A}),
    ("delivery:dn-2025-000101", {A}),
    ("delivery:DN-2025-0001", set()),
    ("delivery:DN-2025-0001*", {A, B, C, E2}),
    ("delivery:DN-2025-00*", SHEETS_2025),
    # customer: words of the name, a phrase, the id, a prefix, Chinese
    ("customer:nordic", {A, G}),
    ('customer:"nordic timber"', {A, G}),
    ("customer:C-1008", {C}),
    ("customer:c-1001", {A, G}),
    ("customer:hamn*", {B}),
    ("customer:恒达", {C}),
    # sku:, item:, receiver:
    ("sku:PK-2040", {B}),
    ("sku:pk-20*", {B}),
    ("item:kartong", {B}),
    ('item:"door hinge"', {E2}),
    ("item:hinge", {E2}),
    ("receiver:marta", {B}),
    ("receiver:Öberg", {B}),
    ("receiver:王伟", {C}),
    # date: a day, a month, a year, a range
    ("date:2025-03-03", {A}),
    ("date:2025-03", {A, B}),
    ("date:2024", {G}),
    ("date:[2025-03-01 to 2025-03-31]", {A, B}),
    ("date:[2025-03-15 to 2025-04-30]", {B, C}),
    ("date:[2025-04 to]", {C}),
    # status:, signed:, missing:, unreadable:, kind:
    ("status:complete", {A, C, E2, G}),
    ("status:incomplete", {B, D, F}),
    ("signed:yes", {A, C, D, E2, G}),
    ("signed:no", {B}),
    ("missing:time", {D}),
    ("missing:date", {D}),
    ("missing:signature", {B}),
    ("missing:receiver", {D}),
    ("missing:delivery", {F}),
    ("kind:other", {F}),
    # versions: the newest by default, all or one on request
    ("smudged", set()),
    ("smudged version:all", {E1}),
    ("delivery:DN-2025-000104", {E2}),
    ("delivery:DN-2025-000104 version:all", {E1, E2}),
    ("delivery:DN-2025-000104 version:1", {E1}),
    ("version:2", {E2}),
    ("version:all", EVERY),
    ("signed:no version:all", {B, E1}),
    # fuzzy
    ("hamnlagr~", {B}),
    ("pinr~", {A}),
    ("pien~", set()),  # two letters swapped are two edits
    ("pien~2", {A}),
    ("goteborgz~", {B}),
    ("glovs~ customer:brightwater", {D}),
    ("hnige~", set()),  # the first letter must match unless asked: hnige~2/0
    ("hnige~2/0", {E2}),
    # Chinese: runs of two or more characters inside longer text
    ("恒达", {C}),
    ("恒达物流", {C}),
    ("海恒达", {C}),
    ("螺丝", {C}),
    ("物流公司", set()),
    ("张江路", {C}),
    # combinations
    ("customer:nordic date:2025", {A}),
    ("customer:nordic NOT pine", {G}),
    ("signed:no OR missing:time", {B, D}),
]


def write_archive(root: Path, sidecars: list[dict[str, Any]] = SIDECARS) -> Path:
    for side in sidecars:
        pdf = root / side["file"]["path"]
        pdf.parent.mkdir(parents=True, exist_ok=True)
        pdf.write_bytes(b"%PDF-1.4\n")
        pdf.with_suffix(".json").write_text(json.dumps(side, ensure_ascii=False, indent=2), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_archive(tmp_path_factory.mktemp("archive"))


@pytest.fixture(scope="module")
def incremental(archive: Path) -> IndexStore:
    """Added as the pipeline adds: one file's sheets per commit, the rescan after its original."""
    store = IndexStore.open(archive / "_index")
    for side in SIDECARS:
        store.add([side])
    return store


@pytest.fixture(scope="module")
def rebuilt(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> IndexStore:
    index_dir = tmp_path_factory.mktemp("rebuilt") / "_index"
    assert rebuild(index_dir, archive) == len(SIDECARS)
    return IndexStore.open(index_dir, create=False)


def found(store: IndexStore, query: str, **kw: Any) -> set[str]:
    hits = store.search(query, limit=100, **kw)
    paths = [h.path for h in hits]
    assert len(paths) == len(set(paths)), "a sheet came back twice"
    return set(paths)


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query_form_finds_exactly(incremental: IndexStore, rebuilt: IndexStore, query: str, expected: set[str]) -> None:
    assert found(incremental, query) == expected
    assert found(rebuilt, query) == expected


def test_every_two_character_run_of_a_chinese_name_finds_it(incremental: IndexStore) -> None:
    name = "上海恒达物流有限公司"
    for size in range(2, len(name) + 1):
        for start in range(len(name) - size + 1):
            assert found(incremental, name[start : start + size]) == {C}, name[start : start + size]


@pytest.mark.parametrize(
    ("date_from", "date_to", "query", "expected"),
    [
        (date(2025, 3, 10), date(2025, 4, 30), "", {B, C}),
        (date(2025, 1, 1), None, "customer:nordic", {A}),
        (None, date(2025, 2, 28), "", {E2, G}),
        (None, date(2025, 2, 28), "version:all", {E1, E2, G}),
        (date(2025, 3, 1), date(2025, 3, 31), "signed:no", {B}),
    ],
)
def test_from_and_to_narrow_any_query(
    incremental: IndexStore, date_from: date | None, date_to: date | None, query: str, expected: set[str]
) -> None:
    assert found(incremental, query, date_from=date_from, date_to=date_to) == expected


def test_sort_by_date_is_newest_first_with_undated_last(incremental: IndexStore) -> None:
    hits = incremental.search("version:all", limit=20, sort="date")
    dated = [h.date for h in hits if h.date]
    assert dated == sorted(dated, reverse=True)
    assert {h.path for h in hits[len(dated) :]} == {D, F}
    assert [h.path for h in incremental.search("customer:nordic", sort="date")] == [A, G]


def test_relevance_puts_the_customer_before_a_mention_in_the_text(incremental: IndexStore) -> None:
    hits = incremental.search("nordic")
    assert hits[-1].path == F  # "Nordic" only in an invoice's text


def test_pages_are_disjoint_and_cover_every_hit(incremental: IndexStore) -> None:
    first = incremental.query("version:all", limit=3, page=1, sort="date")
    pages = [first.hits] + [incremental.query("version:all", limit=3, page=p, sort="date").hits for p in (2, 3)]
    paths = [h.path for page in pages for h in page]
    assert len(paths) == len(set(paths)) == len(EVERY)
    assert [len(p) for p in pages] == [3, 3, 2]
    last = incremental.query("version:all", limit=3, page=3)
    assert (last.total, last.total_exact, last.pages) == (8, True, 3)
    assert incremental.query("version:all", limit=3, page=4).hits == []


def test_hit_carries_version_status_and_snippet(incremental: IndexStore) -> None:
    (old,) = incremental.search("smudged version:all")
    assert (old.version, old.latest, old.signed, old.complete) == (1, False, False, False)
    (new,) = incremental.search("hinge")
    assert (new.version, new.latest, new.signed, new.customer_id) == (2, True, True, "C-1007")
    data = json.loads(json.dumps(new.to_json()))
    # The search --json contract: the old keys stay, new ones are only added.
    assert {"delivery_number", "customer", "date", "complete", "kind", "path", "statuses", "snippet", "score"} <= set(data)
    assert data["status"] == "complete" and data["statuses"]["signature"] == "ok"
    assert "[[hinge]]" in data["snippet"]


@pytest.mark.parametrize(
    ("query", "mark"),
    [("hamnlagr~", "[[Hamnlager]]"), ("goteborgs", "[[Göteborgs]]"), ("海恒达", "[[海恒达]]"), ("item:kartong", "[[Kartong]]")],
)
def test_snippet_marks_fuzzy_folded_and_chinese_matches(incremental: IndexStore, query: str, mark: str) -> None:
    (hit,) = incremental.search(query)
    assert mark in hit.snippet, hit.snippet


@pytest.mark.parametrize(
    ("query", "suggestion"),
    [
        ("hamnlagr", "hamnlager"),
        ("nordc pine", "nordic pine"),
        ("pine bord", "pine board"),
        ("customer:nordic glovs", None),  # "gloves" exists, but not with this customer
        ("gloevs~ signed:yes", "gloves signed:yes"),
        ("xqzzy", None),
        ("hinge", None),  # it matches: nothing to suggest
    ],
)
def test_did_you_mean(incremental: IndexStore, query: str, suggestion: str | None) -> None:
    results = incremental.query(query)
    assert results.suggestion == suggestion
    if suggestion:
        assert results.hits == [] and incremental.search(suggestion)


def test_did_you_mean_keeps_the_version_clause(incremental: IndexStore) -> None:
    results = incremental.query("smudgd version:all")
    assert results.suggestion == "smudged version:all"


@pytest.mark.parametrize(
    "query",
    ["signed:maybe", "version:x", "version:0", "version:all version:2", "missing:colour", "date:2025-02-30", ""],
)
def test_malformed_queries_are_rejected(incremental: IndexStore, query: str) -> None:
    with pytest.raises(ValueError):
        incremental.query(query)


def test_bad_paging_sorting_and_dates_are_rejected(incremental: IndexStore) -> None:
    for kwargs in ({"page": 0}, {"limit": 0}, {"sort": "customer"}):
        with pytest.raises(ValueError):
            incremental.query("pine", **kwargs)
    with pytest.raises(ValueError, match="after"):
        compile_query("", date_from=date(2025, 4, 1), date_to=date(2025, 3, 1))


# -- versions kept in step ----------------------------------------------------------------------
def test_newest_version_wins_whatever_order_they_arrive_in(tmp_path: Path) -> None:
    e1, e2 = SIDECARS[4], SIDECARS[5]
    for order in ([e1, e2], [e2, e1], [e2], [e1]):
        store = IndexStore.open(tmp_path / f"ix-{len(order)}-{order[0]['version']}")
        for side in order:
            store.add([side])
        newest = max(order, key=lambda s: s["version"])["file"]["path"]
        assert found(store, "delivery:DN-2025-000104") == {newest}
        assert found(store, "delivery:DN-2025-000104 version:all") == {s["file"]["path"] for s in order}
    store = IndexStore.open(tmp_path / "one-commit")
    store.add([e2, e1])
    assert found(store, "delivery:DN-2025-000104") == {E2}


def test_deleting_the_newest_version_shows_the_one_before(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "ix")
    store.add(SIDECARS)
    assert store.delete([E2]) == 1
    assert found(store, "delivery:DN-2025-000104") == {E1}
    assert found(store, "smudged") == {E1}
    assert store.count() == len(SIDECARS) - 1


def test_replace_reindexes_a_corrected_sheet_and_keeps_its_version_state(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "ix")
    store.add(SIDECARS)
    corrected = json.loads(json.dumps(SIDECARS[4]))
    corrected["text"] += "\nchecked by office"
    assert store.replace([corrected]) == 1
    assert found(store, "checked") == set()  # still superseded by its rescan
    assert found(store, "checked version:all") == {E1}
    assert store.count() == len(SIDECARS)


# -- show -----------------------------------------------------------------------------------------
def test_find_records_by_delivery_number_and_by_path(incremental: IndexStore, archive: Path) -> None:
    records = find_records(incremental, archive, "dn-2025-000104")
    assert [(r.path, r.version, r.latest) for r in records] == [(E2, 2, True), (E1, 1, False)]
    assert records[0].sidecar == SIDECARS[5]
    assert records[0].pdf == archive / E2
    (by_path,) = find_records(incremental, archive, E1)
    assert (by_path.path, by_path.latest) == (E1, False)
    assert find_records(incremental, archive, "DN-0000-000000") == []
    assert find_records(incremental, archive, "../../etc/passwd.json") == []


# -- schema version, interruption, locks, concurrency ---------------------------------------------
def test_an_index_of_another_schema_version_rebuilds_itself(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    index_dir = archive / "_index"
    IndexStore.open(index_dir).close()
    (index_dir / "signoff-index.json").write_text(json.dumps({"schema_version": SCHEMA_VERSION - 1}))
    with pytest.raises(IndexSchemaMismatch):
        IndexStore.open(index_dir)
    store = open_or_rebuild(index_dir, archive)
    assert store.count() == len(SIDECARS)
    assert found(store, "hinge") == {E2}


def test_a_damaged_index_is_not_rebuilt_behind_anyones_back(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    (archive / "_index").mkdir()
    (archive / "_index" / "stray").write_text("x")
    with pytest.raises(IndexSchemaMismatch):
        open_or_rebuild(archive / "_index", archive)
    assert [p.name for p in (archive / "_index").iterdir()] == ["stray"]


def test_an_interrupted_rebuild_leaves_the_old_index_working(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    index_dir = archive / "_index"
    rebuild(index_dir, archive)
    write_archive(archive, [sidecar("New-Customer/2025/05/DN-2025-009999.pdf", delivery="DN-2025-009999",
                                    customer="New Customer", customer_id=None, day="2025-05-05", items=[], text="fresh")])

    def interrupt(n: int) -> None:
        if n == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        rebuild(index_dir, archive, progress=interrupt)
    assert not (archive / "_index.rebuild").exists()
    store = IndexStore.open(index_dir, create=False)
    assert store.count() == len(SIDECARS) and found(store, "fresh") == set()
    assert rebuild(index_dir, archive) == len(SIDECARS) + 1
    assert found(store, "fresh") == {"New-Customer/2025/05/DN-2025-009999.pdf"}  # the open store sees the swap


def test_a_swap_cut_between_its_renames_is_rebuilt_on_open(tmp_path: Path) -> None:
    archive = write_archive(tmp_path / "archive")
    index_dir = archive / "_index"
    rebuild(index_dir, archive)
    os.rename(index_dir, archive / "_index.old")
    store = open_or_rebuild(index_dir, archive)
    assert store.count() == len(SIDECARS)
    assert not (archive / "_index.old").exists()


_HOLD_LOCK = textwrap.dedent(
    """
    import sys, time
    import whoosh.index
    from pipeline.index.schema import to_document
    ix = whoosh.index.open_dir(sys.argv[1])
    writer = ix.writer()
    for i in range(200):  # a batch half written when the process dies
        writer.add_document(**to_document({"text": f"unfinished {i}", "file": {"path": f"x/{i}.pdf"}}, f"x/{i}.pdf"))
    print("locked", flush=True)
    time.sleep(120)
    """
)


def _lock_holder(index_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(index_dir)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def test_a_writer_killed_with_sigkill_leaves_no_lock_behind(tmp_path: Path) -> None:
    """GIVEN a writer process holding the index's lock, halfway through a batch
    WHEN it is killed with -9
    THEN the next writer gets the lock at once, the half batch is not in the index, and
    searching worked all along."""
    index_dir = tmp_path / "ix"
    store = IndexStore.open(index_dir, lock_timeout=0.3)
    store.add(SIDECARS[:2])
    proc = _lock_holder(index_dir)
    try:
        with pytest.raises(IndexLocked):
            store.add(SIDECARS[2:3])  # a live writer does hold it
        assert found(store, "pine") == {A}  # readers need no lock
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert (index_dir / "MAIN_WRITELOCK").exists()  # the file stays; the lock does not
    started = time.monotonic()
    assert store.add(SIDECARS[2:3]) == 1
    assert time.monotonic() - started < 5
    assert store.count() == 3 and found(store, "unfinished") == set()
    assert rebuild(index_dir, write_archive(tmp_path / "archive"), lock_timeout=1) == len(SIDECARS)


def test_searching_while_another_process_commits_batches(tmp_path: Path) -> None:
    index_dir = tmp_path / "ix"
    IndexStore.open(index_dir).add(SIDECARS)
    writer = textwrap.dedent(
        """
        import json, sys
        from pipeline.index import IndexStore
        store = IndexStore.open(sys.argv[1])
        base = json.loads(sys.argv[2])
        for batch in range(25):
            sides = []
            for i in range(8):
                side = json.loads(json.dumps(base))
                path = f"Batch/2025/05/DN-2025-{batch:03d}{i:03d}.pdf"
                side["file"]["path"], side["delivery_number"] = path, path[-18:-4]
                side["text"] += f" batchword{batch}"
                sides.append(side)
            store.add(sides)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", writer, str(index_dir), json.dumps(SIDECARS[0])], cwd=ROOT)
    store = IndexStore(index_dir)
    errors: list[BaseException] = []
    counts: list[int] = []

    def search() -> None:
        while proc.poll() is None:
            try:
                counts.append(len(store.search("pine", limit=None)))
            except BaseException as exc:  # noqa: BLE001 - the test reports any failure
                errors.append(exc)
                return

    thread = threading.Thread(target=search)
    thread.start()
    thread.join(timeout=120)
    assert proc.wait(timeout=60) == 0
    assert errors == []
    assert len(counts) > 3 and counts == sorted(counts)  # never a half-written batch, never going back
    assert len(store.search("pine", limit=None)) == 1 + 25 * 8


# -- the command line ---------------------------------------------------------------------------
@pytest.fixture
def office(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    archive = write_archive(tmp_path / "archive")
    rebuild(archive / "_index", archive)
    return tmp_path


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_cli_search_json_paths_and_paging(office: Path) -> None:
    result = run("search", "--json", "customer:nordic", "--sort", "date")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in rows] == [A, G]
    assert rows[0]["status"] == "complete" and "[[Nordic]]" in rows[0]["snippet"]

    result = run("search", "--paths", "delivery:DN-2025-000104", "version:all")
    assert sorted(result.stdout.splitlines()) == sorted(str(office / "archive" / p) for p in (E1, E2))

    page2 = run("search", "--paths", "--limit", "2", "--page", "2", "--sort", "date", "kind:signoff")
    assert page2.stdout.splitlines() == [str(office / "archive" / p) for p in (A, E2)]

    ranged = run("search", "--paths", "--from", "2025-03", "--to", "2025-04")
    assert sorted(ranged.stdout.splitlines()) == sorted(str(office / "archive" / p) for p in (A, B, C))


def test_cli_search_table_marks_matches_and_suggests(office: Path) -> None:
    result = run("search", "hinge")
    assert result.exit_code == 0
    assert "DN-2025-000104" in result.stdout and "«hinge»" in result.stdout and "v2" in result.stdout
    miss = run("search", "hamnlagr")
    assert miss.exit_code == 0 and miss.stdout == ""
    assert "no sheet matches: hamnlagr" in miss.stderr and "did you mean: hamnlager" in miss.stderr


def test_cli_search_usage_errors(office: Path) -> None:
    assert run("search").exit_code == 2
    assert run("search", "signed:perhaps").exit_code == 2
    assert run("search", "--from", "2025-13", "pine").exit_code == 2


def test_cli_show(office: Path) -> None:
    result = run("show", "dn-2025-000104")
    assert result.exit_code == 0
    assert str(office / "archive" / E2) in result.stdout and "Tom Baker" in result.stdout
    assert "also filed: v1" in result.stderr
    every = run("show", "--json", "--all", "DN-2025-000104")
    records = [json.loads(line) for line in every.stdout.splitlines()]
    assert [(r["path"], r["version"], r["latest"]) for r in records] == [(E2, 2, True), (E1, 1, False)]
    assert {k: v for k, v in records[0].items() if k not in ("path", "pdf", "sidecar_file", "latest")} == SIDECARS[5]
    assert records[0]["pdf"] == str(office / "archive" / E2)
    missing = run("show", "DN-1999-000001")
    assert missing.exit_code == 1 and "no filed sheet" in missing.stderr


def test_cli_reindex_equals_what_was_there(office: Path) -> None:
    before = run("search", "--paths", "--limit", "100", "version:all").stdout
    result = run("reindex")
    assert result.exit_code == 0 and f"indexed {len(SIDECARS)} sheet(s)" in result.stderr
    assert sorted(run("search", "--paths", "--limit", "100", "version:all").stdout.splitlines()) == sorted(before.splitlines())


def test_cli_search_rebuilds_an_index_of_an_older_schema(office: Path) -> None:
    sentinel = office / "archive" / "_index" / "signoff-index.json"
    sentinel.write_text(json.dumps({"schema_version": 1}))
    result = run("search", "--paths", "hinge")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [str(office / "archive" / E2)]
    assert json.loads(sentinel.read_text()) == {"schema_version": SCHEMA_VERSION}


def test_a_batch_is_one_commit_with_versions_settled(tmp_path: Path) -> None:
    store = IndexStore.open(tmp_path / "ix")
    store.add(SIDECARS[:1])
    toc = lambda: sorted(p.name for p in (tmp_path / "ix").glob("*.toc"))  # noqa: E731
    before = toc()
    with store.batch() as batch:
        assert batch.add(SIDECARS[1:5]) == 4
        batch.add(SIDECARS[5:])  # E2, the rescan of E1, in the same batch
        batch.delete([A])
        assert store.count() == 1  # nothing written before the block ends
    assert toc() != before and len(toc()) == 1
    assert store.count() == len(SIDECARS) - 1
    assert found(store, "delivery:DN-2025-000104") == {E2}
    assert found(store, "pine") == set()
    with pytest.raises(RuntimeError), store.batch() as batch:
        batch.add(SIDECARS[:1])
        raise RuntimeError("the filing failed")
    assert found(store, "pine") == set()


def test_cli_without_an_index_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = run("search", "pine")
    assert result.exit_code == 0 and result.stdout == "" and "no search index" in result.stderr
    assert not (tmp_path / "archive" / "_index").exists()  # a reader never creates it
    assert run("show", "DN-2025-000101").exit_code == 1
