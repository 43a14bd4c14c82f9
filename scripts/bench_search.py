"""Search benchmark: whoosh (the product's index) and tantivy side by side on synthetic sidecars.

For each size it writes an archive of synthetic sidecars shaped like filing.build_sidecar's
(about 2 KB of OCR-like text each, English, Swedish and Chinese, ~1% rescans), then, each engine
in a child process of its own:

* builds an index from the archive (whoosh: ``pipeline.index.rebuild``, exactly ``signoff
  reindex``) and reports sheets indexed per second and the child's peak RSS;
* reports the index size on disk;
* opens the index in a fresh process and times queries of five kinds (a word, a phrase, a
  customer plus a date range, a fuzzy word, a CJK word): p50 and p99 over many different
  queries per kind, after a warm-up; a kind whose queries take longer than --budget seconds
  in all stops early (at least 24 timed; ``timed`` in the results, ``n=`` in the table).
  whoosh answers through ``IndexStore.search``, snippets included, as ``signoff search``
  does; tantivy through the same small interface (add, search, count) with the same analysis
  done in Python before tantivy sees the text.
* whoosh only: adds 500 more sheets in commits of 50 (a full batch of ``signoff process``) and
  times them.

Usage::

    .venv/bin/python scripts/bench_search.py --sizes 10000,100000,1000000 [--engines whoosh,tantivy]
        [--workdir /tmp/signoff-bench] [--queries 100] [--budget 300] [--out results.json]

tantivy is only for this benchmark: it is pip-installed into the running virtualenv if missing.
Archives are kept in --workdir and reused by later runs (delete them with --clean).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SEED = 20251
KINDS = ("word", "phrase", "customer+date", "fuzzy", "cjk")
QUERY_BUDGET_S = 300.0  # seconds of timed queries per kind, after which timing that kind stops
MIN_TIMED = 24  # queries timed per kind however long they take (two rounds of the phrase list)

# -- synthetic sidecars -------------------------------------------------------------------------
_NAME_WORDS = {
    "en": ("Nordic", "Harbour", "Brightwater", "Redwood", "Summit", "Granite", "Riverside", "Oak", "Atlas",
           "Pioneer", "Crown", "Beacon", "Meridian", "Falcon", "Liberty", "Northgate", "Highland", "Coastal"),
    "sv": ("Göteborgs", "Åkerlunds", "Östra", "Norrlands", "Skånska", "Mälardalens", "Hamnlager", "Bygg",
           "Järn", "Kyl", "Trä", "Väst", "Sågverk", "Fjäll", "Björk", "Älv", "Sjö", "Ström"),
    "zh": ("上海", "深圳", "北京", "广州", "杭州", "南京", "恒达", "华南", "京城", "宏远", "鑫源", "天成",
           "金桥", "长江", "瑞丰", "永盛", "东方", "海通"),
}
_NAME_TAIL = {
    "en": ("Supplies Ltd", "Construction Inc.", "Hotels Ltd", "Logistics Ltd", "Building Supply", "Trading Co."),
    "sv": ("Bygg & Järn AB", "Kyl & Frys AB", "Hamnlager AB", "Timber AB", "Trävaror AB", "Logistik AB"),
    "zh": ("物流有限公司", "电子有限公司", "建材有限公司", "贸易有限公司", "五金有限公司", "包装有限公司"),
}
_LABELS = {
    "en": ("DELIVERY NOTE", "Delivery No.", "Customer", "Article  Description  Qty", "Received (date/time)",
           "Received by", "Customer signature", "Remarks"),
    "sv": ("FÖLJESEDEL", "Följesedel nr", "Kund", "Artikel  Benämning  Antal", "Mottaget (datum/tid)",
           "Mottagen av", "Underskrift", "Anmärkning"),
    "zh": ("送货单", "送货单号", "客户", "货品  品名  数量", "签收时间", "签收人", "客户签字", "备注"),
}
_TERMS = {
    "en": ("Goods remain the property of the seller until paid in full. Claims for damage or shortage must be "
           "noted on this delivery note and reported within 48 hours. The carrier is not liable for delays caused "
           "by circumstances beyond its control. Please check the number of packages and the condition of the goods "
           "before signing. Pallets and crates remain our property and will be collected on the next delivery. "
           "Returns are accepted only with a return authorisation number from customer service."),
    "sv": ("Varorna förblir säljarens egendom tills full betalning erhållits. Reklamation av skador eller brist ska "
           "antecknas på följesedeln och anmälas inom 48 timmar. Transportören ansvarar inte för förseningar som beror "
           "på omständigheter utanför dess kontroll. Kontrollera antal kollin och godsets skick innan du skriver under. "
           "Pallar och lådor förblir vår egendom och hämtas vid nästa leverans. Retur tas endast emot med returnummer."),
    "zh": ("货物在全额付款前仍归卖方所有。货物如有损坏或短缺，请在本送货单上注明，并于四十八小时内通知我司。因不可抗力造成的延误，"
           "承运人不承担责任。签收前请核对件数并检查货物外观。托盘及木箱属我司财产，将于下次送货时收回。退货须凭客服部提供的退货编号办理。"
           "如有疑问请致电客服热线，工作时间为周一至周五上午八点至下午五点。本单一式三联，白联存根，红联客户，黄联回单。"),
}
_SHIPPERS = (
    ("Scandi Freight AB", "Hamngatan 5, 111 47 Stockholm", "Org.nr 556677-8899  Tel 08-123 45 67"),
    ("Northern Distribution Ltd", "Unit 4, Trafford Park, Manchester M17 1HH", "VAT GB 123 4567 89  Tel 0161 496 0000"),
    ("华东速运有限公司", "上海市闵行区虹梅路 1888 号", "电话 021-6485 2200  税号 91310000MA1FL0XX"),
)
_OCR_SWAPS = (("l", "1"), ("O", "0"), ("rn", "m"), ("e", "c"), ("S", "5"), ("B", "8"), ("i", "l"))


def _customers(rng: random.Random, n: int = 2000) -> list[tuple[str, str, str]]:
    """(id, name, language) of n synthetic customers, plus the sample generator's own ten."""
    from pipeline.samples import CUSTOMERS

    out = [(c.id, c.name, c.language) for c in CUSTOMERS]
    seen = {name for _, name, _ in out}
    while len(out) < n:
        lang = rng.choice(("en", "en", "sv", "sv", "zh"))
        words = rng.sample(_NAME_WORDS[lang], 2 if lang != "zh" else 1)
        joiner = "" if lang == "zh" else " "
        name = joiner.join([*words, rng.choice(_NAME_TAIL[lang])])
        if name not in seen:
            seen.add(name)
            out.append((f"C-{2000 + len(out)}", name, lang))
    return out


def _ocr_noise(rng: random.Random, line: str) -> str:
    """Now and then an OCR slip (l/1, O/0, rn/m) or a stray mark, as tesseract output has."""
    if rng.random() < 0.08:
        a, b = rng.choice(_OCR_SWAPS)
        line = line.replace(a, b, 1)
    if rng.random() < 0.05:
        line += rng.choice((" |", " —", " ~", " .", " '"))
    return line


def _sidecar(rng: random.Random, serial: int, customers: list[tuple[str, str, str]]) -> dict[str, Any]:
    """One synthetic sidecar as filing.build_sidecar writes it (without a PDF beside it)."""
    from pipeline.filing import SIDECAR_SCHEMA, safe_name
    from pipeline.samples import format_time, random_sheet

    cust_id, customer, lang = rng.choice(customers)
    sheet = random_sheet(rng, language=lang)
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(730))
    moment = datetime(day.year, day.month, day.day, rng.randint(7, 16), rng.randint(0, 59))
    has_time = rng.random() > 0.10
    signed = rng.random() > 0.15
    receiver = sheet.receiver if rng.random() > 0.25 else None
    dn = f"DN-{day.year}-{serial:07d}"
    labels = _LABELS[lang]
    shipper = _SHIPPERS[{"sv": 0, "en": 1, "zh": 2}[lang]]
    time_text = format_time(moment, "cjk" if lang == "zh" else rng.choice(("iso", "dmy_slash", "dmy_dot")))
    lines = [labels[0], *shipper, f"{labels[1]}: {dn}", f"Order {rng.randint(100000, 999999)}", f"{labels[2]}: {customer}",
             *sheet.address, labels[3]]
    lines += [f"{i.sku}  {i.description}  {i.qty_text}" for i in sheet.items]
    lines += [f"{labels[4]}: {time_text if has_time else ''}", f"{labels[5]}: {receiver or ''}", labels[6]]
    if sheet.remarks:
        lines.append(f"{labels[7]}: {sheet.remarks}")
    text = "\n".join(_ocr_noise(rng, line) for line in lines)
    terms = _TERMS[lang]
    while len(text.encode("utf-8")) < 1900:
        start = rng.randrange(len(terms) // 2)
        text += "\n" + _ocr_noise(rng, terms[start : start + rng.randint(120, 260)])
    text += f"\nPage 1 of 1  {rng.randint(10000, 99999)}/{rng.randint(100, 999)}"
    folder = f"{safe_name(customer)}/{day:%Y}/{day:%m}"
    items = [i.to_json() for i in sheet.items]
    fields = {
        "customer": {"status": "ok", "value": customer},
        "items": {"status": "ok", "value": items},
        "time": {"status": "ok", "value": moment.strftime("%Y-%m-%dT%H:%M")} if has_time
        else {"status": "missing", "value": None, "note": "empty"},
        "receiver": {"status": "ok", "value": receiver} if receiver else {"status": "missing", "value": None, "note": "empty"},
        "signature": {"status": "ok"} if signed else {"status": "missing", "note": "no ink in the box"},
    }
    return {
        "schema": SIDECAR_SCHEMA,
        "doc_id": dn,
        "kind": "signoff",
        "delivery_number": dn,
        "delivery_number_source": "barcode",
        "customer": customer,
        "customer_id": cust_id,
        "date": day.isoformat() if has_time else None,
        "fields": fields,
        "complete": has_time and signed,
        "notes": [],
        "barcodes": [{"symbology": "CODE128", "data": dn, "page": 1}],
        "text": text,
        "source": {"name": f"scan-{serial:07d}.pdf", "sha256": f"{rng.getrandbits(256):064x}", "pages": [1]},
        "file": {"name": f"{dn}.pdf", "sha256": f"{rng.getrandbits(256):064x}", "path": f"{folder}/{dn}.pdf"},
        "version": 1,
        "processed_at": datetime(day.year, day.month, day.day, 18, tzinfo=timezone.utc).isoformat(timespec="seconds"),
        "software": {"name": "signoff", "version": "0.1.0"},
    }


def _rescan(sidecar: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A later scan of the same delivery: version 2, filed beside the first as DN-….v2.pdf."""
    again = json.loads(json.dumps(sidecar))
    path = again["file"]["path"].removesuffix(".pdf") + ".v2.pdf"
    again["file"].update(path=path, name=path.rsplit("/", 1)[1])
    again["version"] = 2
    again["doc_id"] = path.rsplit("/", 1)[1].removesuffix(".pdf")
    again["text"] = again["text"].replace("Page 1 of 1", "Page 1 of 1 (rescan)")
    again["fields"]["signature"] = {"status": "ok"}
    return again


def synthetic(n: int, seed: int = SEED, start: int = 1) -> Iterator[dict[str, Any]]:
    """n sidecars (rescans counted among them), the same for the same seed."""
    rng = random.Random(seed + start)
    customers = _customers(random.Random(seed))
    made, serial = 0, start
    while made < n:
        side = _sidecar(rng, serial, customers)
        serial += 1
        yield side
        made += 1
        if made < n and rng.random() < 0.01:
            yield _rescan(side, rng)
            made += 1


def write_archive(archive: Path, n: int) -> None:
    """Write n synthetic sidecars into archive (reused when a complete one is there)."""
    marker = archive / ".bench-complete"
    if marker.exists() and json.loads(marker.read_text()) == {"n": n, "seed": SEED}:
        return
    shutil.rmtree(archive, ignore_errors=True)
    started = time.monotonic()
    made_dirs: set[str] = set()
    for i, side in enumerate(synthetic(n), 1):
        rel = side["file"]["path"]
        folder = rel.rsplit("/", 1)[0]
        if folder not in made_dirs:
            (archive / folder).mkdir(parents=True, exist_ok=True)
            made_dirs.add(folder)
        (archive / rel).with_suffix(".json").write_text(json.dumps(side, ensure_ascii=False, indent=2), encoding="utf-8")
        if i % 50000 == 0:
            print(f"  wrote {i} sidecars ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    marker.write_text(json.dumps({"n": n, "seed": SEED}))
    print(f"  wrote {n} sidecars in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


# -- queries ----------------------------------------------------------------------------------
WORDS = ("pallet", "hinge", "gloves", "padlock", "cardboard", "screws", "nails", "paint", "cable", "timber",
         "damaged", "gate", "wrapping", "kartong", "spik", "buntband", "hanglas", "skadade", "pall", "furuplanka",
         "brass", "steel", "film", "stretch", "order", "short", "delivered", "mottaget", "traskruv", "regel")
PHRASES = ('"pine board"', '"cable ties"', '"wall paint"', '"door hinge"', '"stretch film"', '"work gloves"',
           '"euro pallet"', '"wood screws"', '"2 cartons damaged"', '"gott skick"', '"1 pallet short"', '"vaggfarg vit"')
CUSTOMER_WORDS = ("nordic", "harbour", "brightwater", "redwood", "summit", "granite", "goteborgs", "akerlunds",
                  "ostra", "norrlands", "skanska", "hamnlager", "atlas", "crown", "falcon", "bjork")
FUZZY = ("palet~", "hinfe~", "timbre~", "glovse~", "padlok~", "cardbord~", "screwz~", "nials~", "paimt~",
         "cabel~", "damgaed~", "kartnog~", "buntbnad~", "wraping~", "stretsh~", "pallte~")
CJK = ("恒达", "螺丝", "托盘", "手套", "华南电子", "京城建材", "缠绕膜", "物流", "松木板", "门铰链", "纸箱", "白色墙漆",
       "劳保手套", "钉子", "铜挂锁", "扎带", "签收", "破损")


def queries(kind: str, n: int) -> list[str]:
    rng = random.Random(KINDS.index(kind))
    out = []
    for i in range(n):
        if kind == "word":
            out.append(WORDS[i % len(WORDS)])
        elif kind == "phrase":
            out.append(PHRASES[i % len(PHRASES)])
        elif kind == "customer+date":
            lo = date(2024, 1, 1) + timedelta(days=rng.randrange(700))
            hi = lo + timedelta(days=rng.choice((7, 30, 90)))
            out.append(f"customer:{CUSTOMER_WORDS[i % len(CUSTOMER_WORDS)]} date:[{lo} to {hi}]")
        elif kind == "fuzzy":
            out.append(FUZZY[i % len(FUZZY)])
        else:
            out.append(CJK[i % len(CJK)])
    return out


# -- engines --------------------------------------------------------------------------------------
class TantivyStore:
    """tantivy behind the product index's interface (add, search, count), same analysis.

    Text goes through pipeline.index's analyser in Python (CJK bigrams, folding) and is handed
    to tantivy's whitespace tokenizer, so both engines index the same tokens.
    """

    FREE = {"delivery": 4.0, "customer": 3.0, "customer_id": 3.0, "sku": 2.0, "items": 1.5, "receiver": 1.5, "text": 1.0}
    TEXT = ("customer", "items", "receiver", "text")

    def __init__(self, index_dir: Path, create: bool = False) -> None:
        import tantivy

        from pipeline.index.schema import text_analyzer

        self.t = tantivy
        self.analyzer = text_analyzer()
        sb = tantivy.SchemaBuilder()
        sb.add_text_field("path", stored=True, tokenizer_name="raw")
        for name in ("delivery", "customer_id", "sku", "complete", "flags", "latest"):
            sb.add_text_field(name, tokenizer_name="raw")
        for name in self.TEXT:
            sb.add_text_field(name, tokenizer_name="whitespace")
        sb.add_date_field("date", indexed=True, fast=True)
        sb.add_bytes_field("body", stored=True)
        sb.add_text_field("meta", stored=True, tokenizer_name="raw", index_option="basic")
        self.schema = sb.build()
        index_dir.mkdir(parents=True, exist_ok=True)
        self.index = tantivy.Index(self.schema, path=str(index_dir), reuse=not create)

    def _words(self, text: str) -> str:
        return " ".join(t.text for t in self.analyzer(text or ""))

    def add(self, sidecars: Any, writer: Any) -> int:
        from pipeline.index.schema import to_document

        n = 0
        for path, side in sidecars:
            doc = to_document(side, path)
            fields: dict[str, Any] = {"path": path, "body": doc["body"], "meta": json.dumps(doc["meta"], ensure_ascii=False),
                                      "latest": doc["latest"], "complete": doc["complete"], "flags": doc["flags"]}
            for name in ("delivery", "customer_id"):
                if doc.get(name):
                    fields[name] = doc[name].lower()
            if doc.get("sku"):
                fields["sku"] = [s.lower() for s in doc["sku"].split(",")]
            for name in self.TEXT:
                if doc.get(name):
                    fields[name] = self._words(doc[name])
            if doc.get("date"):
                fields["date"] = doc["date"]
            writer.add_document(self.t.Document(**fields))
            n += 1
        return n

    def _free(self, word: str) -> Any:
        q, tokens = self.t.Query, [t.text for t in self.analyzer(word)]
        subs = []
        for field, boost in self.FREE.items():
            if field in self.TEXT:
                one = q.term_query(self.schema, field, tokens[0]) if len(tokens) == 1 else q.phrase_query(self.schema, field, tokens)
            else:
                one = q.term_query(self.schema, field, word.lower())
            subs.append((self.t.Occur.Should, q.boost_query(one, boost)))
        return q.boolean_query(subs)

    def parse(self, text: str) -> Any:
        """The bench's query forms: a word, "a phrase", word~, customer:x date:[a to b], CJK."""
        q = self.t.Query
        base = self._parse(text)
        # As a default whoosh search does: older versions of rescanned sheets are left out.
        return q.boolean_query([
            (self.t.Occur.Must, base),
            (self.t.Occur.MustNot, q.term_query(self.schema, "latest", "no")),
        ])

    def _parse(self, text: str) -> Any:
        q = self.t.Query
        if text.startswith("customer:"):
            cust, rng = text.split(" ", 1)
            lo, hi = rng.removeprefix("date:[").removesuffix("]").split(" to ")
            lo_d = datetime.fromisoformat(lo)
            hi_d = datetime.fromisoformat(hi) + timedelta(days=1) - timedelta(microseconds=1)
            return q.boolean_query([
                (self.t.Occur.Must, q.term_query(self.schema, "customer", cust.split(":", 1)[1])),
                (self.t.Occur.Must, q.range_query(self.schema, "date", self.t.FieldType.Date, lo_d, hi_d)),
            ])
        if text.endswith("~"):
            word = self._words(text[:-1])
            return q.boolean_query([(self.t.Occur.Should, q.fuzzy_term_query(self.schema, f, word)) for f in self.TEXT])
        return self._free(text.strip('"'))

    def search(self, text: str, limit: int = 10) -> list[dict[str, Any]]:
        searcher = self.index.searcher()
        result = searcher.search(self.parse(text), limit, count=True)
        hits = []
        for _, address in result.hits:
            doc = searcher.doc(address)
            hits.append({"path": doc["path"][0], "meta": json.loads(doc["meta"][0])})
        return hits

    def count(self) -> int:
        return int(self.index.searcher().num_docs)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_build(engine: str, archive: Path, index_dir: Path) -> dict[str, Any]:
    from pipeline.index import iter_sidecars, rebuild

    shutil.rmtree(index_dir, ignore_errors=True)
    started = time.perf_counter()
    if engine == "whoosh":
        n = rebuild(index_dir, archive)
    else:
        store = TantivyStore(index_dir, create=True)
        writer = store.index.writer(heap_size=256_000_000, num_threads=1)
        paths = ((json_path.relative_to(archive).with_suffix(".pdf").as_posix(), side) for json_path, side in iter_sidecars(archive))
        n = store.add(paths, writer)
        writer.commit()
        writer.wait_merging_threads()
    seconds = time.perf_counter() - started
    return {"docs": n, "seconds": round(seconds, 2), "per_second": round(n / seconds, 1), "peak_rss_mb": round(_peak_rss_mb())}


def child_query(engine: str, index_dir: Path, n: int, budget: float = QUERY_BUDGET_S) -> dict[str, Any]:
    """Time n queries of each kind (fewer if a kind's queries run past ``budget`` seconds: ``timed`` says)."""
    started = time.perf_counter()
    if engine == "whoosh":
        from pipeline.index import IndexStore

        store: Any = IndexStore.open(index_dir, create=False)
    else:
        store = TantivyStore(index_dir)
    first = store.search("pallet", limit=10)
    out: dict[str, Any] = {"open_and_first_ms": round((time.perf_counter() - started) * 1000, 1), "count": store.count()}
    for kind in KINDS:
        qs = queries(kind, n)
        warm = time.perf_counter()
        for q in qs[: min(len(qs), 20)]:  # warm-up (a tenth of the budget at most)
            store.search(q, limit=10)
            if time.perf_counter() - warm > budget / 10:
                break
        times, hits = [], 0
        spent = time.perf_counter()
        for q in qs:
            t0 = time.perf_counter()
            found = store.search(q, limit=10)
            times.append((time.perf_counter() - t0) * 1000)
            hits += len(found)
            # A whoosh phrase at a million sheets can take many seconds: past the budget, stop
            # timing this kind (the queries cycle through the same list, so the first ones cover it).
            if len(times) >= MIN_TIMED and time.perf_counter() - spent > budget:
                break
        times.sort()
        out[kind] = {
            "p50_ms": round(statistics.median(times), 2),
            "p99_ms": round(times[min(len(times) - 1, int(len(times) * 0.99))], 2),
            "mean_hits": round(hits / len(times), 1),
            "timed": len(times),
        }
    out["peak_rss_mb"] = round(_peak_rss_mb())
    assert first is not None
    return out


def child_incremental(index_dir: Path, n: int = 500, batch: int = 50) -> dict[str, Any]:
    """Add n new sheets in commits of ``batch`` (pipeline.run.BATCH_SHEETS: `signoff process` at full speed)."""
    from pipeline.index import IndexStore

    store = IndexStore.open(index_dir, create=False)
    docs = list(synthetic(n, seed=SEED + 1, start=50_000_000))
    times = []
    started = time.perf_counter()
    for i in range(0, len(docs), batch):
        t0 = time.perf_counter()
        store.add(docs[i : i + batch])
        times.append((time.perf_counter() - t0) * 1000)
    seconds = time.perf_counter() - started
    times.sort()
    return {"sheets": len(docs), "batch": batch, "per_second": round(len(docs) / seconds, 1),
            "commit_p50_ms": round(statistics.median(times), 1), "commit_max_ms": round(times[-1], 1)}


def _run_child(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"child {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _du_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def _ensure_tantivy() -> None:
    try:
        import tantivy  # noqa: F401
    except ImportError:
        print("installing tantivy into the virtualenv (benchmark only)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "tantivy"], check=True)


def _table(results: list[dict[str, Any]], queries: int) -> str:
    head = ["sheets", "engine", "index/s", "build s", "peak RSS MB", "index MB", "open+1st ms"]
    head += [f"{k} p50/p99 ms" for k in KINDS]
    rows = [head]
    for r in results:
        row = [str(r["size"]), r["engine"], str(r["build"]["per_second"]), str(r["build"]["seconds"]),
               str(r["build"]["peak_rss_mb"]), str(r["index_mb"]), str(r["query"]["open_and_first_ms"])]
        for k in KINDS:
            q = r["query"][k]
            timed = f" (n={q['timed']})" if q.get("timed", queries) < queries else ""
            row.append(f"{q['p50_ms']} / {q['p99_ms']}{timed}")
        rows.append(row)
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(head))
    inc = [r for r in results if r.get("incremental")]
    for r in inc:
        i = r["incremental"]
        lines.append(f"\n{r['size']} sheets, whoosh, pipeline path: {i['sheets']} more sheets in commits of {i['batch']}: "
                     f"{i['per_second']} sheets/s, commit p50 {i['commit_p50_ms']} ms, max {i['commit_max_ms']} ms")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1].startswith("_"):
        step, engine, *rest = sys.argv[1:]
        if step == "_build":
            result = child_build(engine, Path(rest[0]), Path(rest[1]))
        elif step == "_query":
            budget = float(rest[2]) if len(rest) > 2 else QUERY_BUDGET_S
            result = child_query(engine, Path(rest[0]), int(rest[1]), budget)
        else:
            result = child_incremental(Path(rest[0]))
        print(json.dumps(result))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated numbers of sheets")
    ap.add_argument("--engines", default="whoosh,tantivy")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/signoff-bench"))
    ap.add_argument("--queries", type=int, default=100, help="queries timed per kind")
    ap.add_argument("--budget", type=float, default=QUERY_BUDGET_S,
                    help=f"seconds of queries timed per kind before stopping early (at least {MIN_TIMED} are timed)")
    ap.add_argument("--out", type=Path, help="also write the results as JSON here")
    ap.add_argument("--clean", action="store_true", help="delete the generated archives and indexes when done")
    args = ap.parse_args()
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    if "tantivy" in engines:
        _ensure_tantivy()
    results: list[dict[str, Any]] = []
    for size in (int(s) for s in args.sizes.split(",")):
        archive = args.workdir / f"archive-{size}"
        print(f"{size} sheets: archive {archive}", file=sys.stderr, flush=True)
        write_archive(archive, size)
        for engine in engines:
            index_dir = args.workdir / f"index-{size}-{engine}"
            print(f"  {engine}: building", file=sys.stderr, flush=True)
            build = _run_child("_build", engine, str(archive), str(index_dir))
            print(f"  {engine}: {build}; querying", file=sys.stderr, flush=True)
            query = _run_child("_query", engine, str(index_dir), str(args.queries), str(args.budget))
            result = {"size": size, "engine": engine, "build": build, "index_mb": _du_mb(index_dir), "query": query}
            if engine == "whoosh":
                result["incremental"] = _run_child("_incremental", engine, str(index_dir))
            print(f"  {engine}: {json.dumps(result)}", file=sys.stderr, flush=True)
            results.append(result)
            if args.out:
                args.out.write_text(json.dumps(results, indent=2))
        if args.clean:
            shutil.rmtree(archive, ignore_errors=True)
            for engine in engines:
                shutil.rmtree(args.workdir / f"index-{size}-{engine}", ignore_errors=True)
    print(_table(results, args.queries))


if __name__ == "__main__":
    main()
