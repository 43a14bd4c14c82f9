"""Every filesystem write into the archive: filed PDFs, sidecars, quarantine. Nothing is overwritten."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import img2pdf
import pikepdf
from filelock import FileLock, Timeout
from PIL import Image, ImageSequence

from pipeline import __version__
from pipeline.document import FieldStatus, ScanDoc
from pipeline.errors import ArchiveUnwritable, PipelineError

__all__ = [
    "FiledDoc",
    "archive_lock",
    "doc_id",
    "file_document",
    "plan_destination",
    "quarantine",
    "remove_original",
    "safe_name",
]

log = logging.getLogger(__name__)

SIDECAR_SCHEMA = 1
UNKNOWN_CUSTOMER = "_unknown"
OTHER_FOLDER = "_other"
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
_UNSAFE = re.compile(r"[^\w.\- ]+", re.UNICODE)
MAX_NAME_BYTES = 120


def safe_name(text: str, fallback: str = "unnamed") -> str:
    """A folder or file name made from text read off paper: it can never leave its folder.

    Keeps letters of any script (Göteborg, 上海), turns everything else into hyphens, never starts
    with "." or "_" (those are ours), avoids Windows' reserved names and stays under 120 bytes.
    """
    text = unicodedata.normalize("NFC", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C")
    text = _UNSAFE.sub("-", text).strip()
    text = re.sub(r"\s+", "-", text)
    text = re.sub(r"-{2,}", "-", text).strip("-._ ")
    while len(text.encode("utf-8")) > MAX_NAME_BYTES:
        text = text[:-1]
    text = text.strip("-._ ")
    if not text:
        return fallback
    if text.split(".")[0].lower() in _RESERVED:
        text = f"x-{text}"
    return text


def doc_id(doc: ScanDoc) -> str:
    """The file name stem: the delivery number, or a stable id from the content hash."""
    if doc.delivery_number:
        return safe_name(doc.delivery_number, fallback="X")
    pages = ",".join(str(p) for p in doc.page_numbers)
    return "X-" + hashlib.sha256(f"{doc.sha256}:{pages}".encode()).hexdigest()[:12]


def _doc_date(doc: ScanDoc, processed: datetime) -> date:
    time = doc.field("time")
    if time.status is FieldStatus.OK and time.value:
        try:
            return date.fromisoformat(str(time.value)[:10])
        except ValueError:
            pass
    return processed.date()


def _customer_folder(doc: ScanDoc) -> str:
    if doc.kind != "signoff":
        return OTHER_FOLDER
    customer = doc.field("customer")
    if customer.status is FieldStatus.OK and customer.value:
        return safe_name(str(customer.value), fallback=UNKNOWN_CUSTOMER)
    return UNKNOWN_CUSTOMER


def plan_destination(archive: Path, doc: ScanDoc, processed: datetime) -> Path:
    """Where a document would be filed (before any version suffix): customer/YYYY/MM/id.pdf."""
    day = _doc_date(doc, processed)
    return archive / _customer_folder(doc) / f"{day:%Y}" / f"{day:%m}" / f"{doc_id(doc)}.pdf"


@dataclass(frozen=True, slots=True)
class FiledDoc:
    """The outcome of filing one document."""

    doc: ScanDoc
    outcome: str  # "filed", "rescan" (a new version beside an older one) or "duplicate"
    pdf: Path
    sidecar: dict[str, Any]


def archive_lock(archive: Path, timeout: float = 60.0) -> FileLock:
    return FileLock(str(archive / ".signoff.lock"), timeout=timeout)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary name, flush to disk, rename into place, and check what landed."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with tmp.open("xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    if path.exists():  # never over an existing file
        tmp.unlink()
        raise FileExistsError(path)
    os.replace(tmp, path)
    _fsync_dir(path.parent)
    if hashlib.sha256(path.read_bytes()).digest() != hashlib.sha256(data).digest():
        raise ArchiveUnwritable(f"{path}: the written file does not match what was sent to disk")


def _pdf_bytes(doc: ScanDoc, kind: str) -> bytes:
    """The document's pages from the original file, without re-encoding them, shown upright."""
    data = _original_pages(doc, kind)
    turns = [(-p.rotated) % 360 for p in doc.pages]  # PDF /Rotate is clockwise; ours is not
    if not any(turns):
        return data
    # Pages scanned sideways or upside down are turned for viewing with /Rotate: the scanned
    # image itself stays exactly as it was.
    with pikepdf.open(io.BytesIO(data)) as pdf:
        for page, turn in zip(pdf.pages, turns):
            if turn:
                page.rotate(turn, relative=True)
        buf = io.BytesIO()
        pdf.save(buf)
        return buf.getvalue()


def _original_pages(doc: ScanDoc, kind: str) -> bytes:
    if kind == "pdf":
        with pikepdf.open(doc.source) as src:
            out = pikepdf.new()
            for n in doc.page_numbers:
                out.pages.append(src.pages[n - 1])
            buf = io.BytesIO()
            out.save(buf)
            return buf.getvalue()
    images: list[bytes] = []
    dpi = 300
    with Image.open(doc.source) as img:
        frames = list(ImageSequence.Iterator(img)) if getattr(img, "n_frames", 1) > 1 else [img]
        for n in doc.page_numbers:
            frame = frames[n - 1]
            declared = frame.info.get("dpi")
            dpi = int(round(float(declared[0]))) if declared and float(declared[0]) >= 50 else 300
            if kind == "jpeg" and len(frames) == 1:
                images.append(doc.source.read_bytes())  # img2pdf embeds JPEG as is
                continue
            f = frame.convert("L") if frame.mode not in ("1", "L", "RGB") else frame.copy()
            buf = io.BytesIO()
            f.save(buf, format="PNG")
            images.append(buf.getvalue())
    layout = img2pdf.get_fixed_dpi_layout_fun((dpi, dpi))
    return img2pdf.convert(images, layout_fun=layout)


def build_sidecar(doc: ScanDoc, rel_pdf: str, pdf_sha: str, processed: datetime, version: int) -> dict[str, Any]:
    record = doc.to_json()
    time = doc.field("time")
    day = str(time.value)[:10] if time.status is FieldStatus.OK and time.value else None
    customer = doc.field("customer")
    return {
        "schema": SIDECAR_SCHEMA,
        "doc_id": Path(rel_pdf).stem,
        "kind": doc.kind,
        "delivery_number": doc.delivery_number,
        "delivery_number_source": doc.delivery_number_source,
        "customer": customer.value if customer.status is FieldStatus.OK else None,
        "customer_id": doc.customer_id,
        "date": day,
        "fields": record["fields"],
        "complete": doc.complete,
        "notes": record["notes"],
        "barcodes": record["barcodes"],
        "text": record["text"],
        "source": {"name": doc.source.name, "sha256": doc.sha256, "pages": doc.page_numbers},
        "file": {"name": Path(rel_pdf).name, "sha256": pdf_sha, "path": rel_pdf},
        "version": version,
        "processed_at": processed.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "software": {"name": "signoff", "version": __version__},
    }


def _existing_versions(dest: Path) -> list[tuple[int, Path, dict[str, Any] | None]]:
    out = []
    stem = dest.stem
    for pdf in sorted(dest.parent.glob(f"{glob_escape(stem)}*.pdf")):
        m = re.fullmatch(re.escape(stem) + r"(?:\.v(\d+))?", pdf.stem)
        if not m:
            continue
        side = pdf.with_suffix(".json")
        data = None
        if side.exists():
            try:
                data = json.loads(side.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
        out.append((int(m[1] or 1), pdf, data))
    return sorted(out)


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def file_document(doc: ScanDoc, archive: Path, source_kind: str, processed: datetime) -> FiledDoc:
    """File one document: its PDF and sidecar land whole or not at all; nothing is overwritten.

    The same pages of the same file again are a duplicate (nothing written); a different scan of a
    delivery already filed becomes a new version (`DN-….v2.pdf`) beside the old one.
    """
    dest = plan_destination(archive, doc, processed)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with archive_lock(archive):
            versions = _existing_versions(dest)
            for _, pdf, data in versions:
                src = (data or {}).get("source", {})
                if src.get("sha256") == doc.sha256 and src.get("pages") == doc.page_numbers:
                    return FiledDoc(doc, "duplicate", pdf, data or {})
            version = (versions[-1][0] + 1) if versions else 1
            target = dest if version == 1 else dest.with_name(f"{dest.stem}.v{version}.pdf")
            data = _pdf_bytes(doc, source_kind)
            pdf_sha = hashlib.sha256(data).hexdigest()
            rel = target.relative_to(archive).as_posix()
            sidecar = build_sidecar(doc, rel, pdf_sha, processed, version)
            _write_atomic(target, data)
            payload = json.dumps(sidecar, ensure_ascii=False, indent=2).encode("utf-8")
            _write_atomic(target.with_suffix(".json"), payload)
    except Timeout:
        raise ArchiveUnwritable(f"{archive}: another signoff process holds the archive lock") from None
    except (PermissionError, OSError) as exc:
        if isinstance(exc, PipelineError):
            raise
        raise ArchiveUnwritable(f"cannot write to the archive {archive}: {exc}") from None
    log.info("filed %s -> %s", doc.source.name, rel)
    return FiledDoc(doc, "filed" if version == 1 else "rescan", target, sidecar)


def quarantine(path: Path, error: PipelineError, quarantine_dir: Path, sha256: str | None, now: datetime) -> Path:
    """Move a rejected file to archive/_quarantine/YYYY-MM-DD/ with `<name>.reason.json` beside it."""
    day_dir = quarantine_dir / f"{now:%Y-%m-%d}"
    day_dir.mkdir(parents=True, exist_ok=True)
    name = safe_name(path.name, fallback="unnamed")
    target = day_dir / name
    n = 1
    while target.exists() or target.with_name(target.name + ".reason.json").exists():
        n += 1
        target = day_dir / f"{Path(name).stem}.{n}{Path(name).suffix}"
    if sha256 is None:
        try:
            sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            sha256 = None
    reason = {
        "code": str(error.reason),
        "message": error.message,
        "stage": error.stage or "ingest",
        "sha256": sha256,
        "at": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
        "source": path.name,
    }
    _write_atomic(target.with_name(target.name + ".reason.json"), json.dumps(reason, ensure_ascii=False, indent=2).encode())
    try:
        os.replace(path, target)
    except OSError:  # another filesystem: copy, flush, then remove
        shutil.copy2(path, target)
        with target.open("rb") as fh:
            os.fsync(fh.fileno())
        path.unlink()
    _fsync_dir(day_dir)
    log.warning("quarantined %s: %s", path.name, error.message)
    return target


def remove_original(path: Path) -> None:
    """Remove a consumed file from the inbox (only after everything from it is filed)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
