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
from pipeline.folders import DUPLICATES_FOLDER, OTHER_FOLDER, UNKNOWN_CUSTOMER

__all__ = [
    "DUPLICATES_FOLDER",
    "FiledDoc",
    "archive_lock",
    "doc_id",
    "file_document",
    "is_temp_name",
    "leftover_temp_files",
    "plan_destination",
    "quarantine",
    "remove_original",
    "safe_name",
    "set_aside_duplicate",
]

log = logging.getLogger(__name__)

SIDECAR_SCHEMA = 1
_TEMP_NAME = re.compile(r"^\..+\.tmp-(\d+)$")  # what _write_atomic writes before its rename
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


def _png_as_is(frame: Image.Image) -> bool:
    """A PNG img2pdf can embed as it is: 1-bit, grey or RGB, 8 bits or fewer, not interlaced, no
    transparency (img2pdf refuses alpha; an interlaced one it would have to re-encode)."""
    return frame.mode in ("1", "L", "RGB") and not frame.info.get("interlace") and "transparency" not in frame.info


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
            if kind == "png" and len(frames) == 1 and _png_as_is(frame):
                # img2pdf copies a plain PNG's compressed data into the PDF: no decoding, no
                # re-encoding (that took about 1.7 s a page, most of the writer's time).
                images.append(doc.source.read_bytes())
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
            payload = _json_bytes(sidecar)
            try:
                _write_atomic(target.with_suffix(".json"), payload)
            except BaseException:
                # A PDF without its sidecar would be taken for an older version on the retry.
                target.unlink(missing_ok=True)
                raise
    except Timeout:
        raise ArchiveUnwritable(f"{archive}: another signoff process holds the archive lock") from None
    except (PermissionError, OSError) as exc:
        if isinstance(exc, PipelineError):
            raise
        raise ArchiveUnwritable(f"cannot write to the archive {archive}: {exc}") from None
    log.info("filed %s -> %s", doc.source.name, rel)
    return FiledDoc(doc, "filed" if version == 1 else "rescan", target, sidecar)


def _free_target(day_dir: Path, name: str, record_suffix: str) -> Path:
    """A name in `day_dir` (created) that neither a file nor its `<name><record_suffix>` record has taken."""
    day_dir.mkdir(parents=True, exist_ok=True)
    name = safe_name(name, fallback="unnamed")
    target = day_dir / name
    n = 1
    while target.exists() or target.with_name(target.name + record_suffix).exists():
        n += 1
        target = day_dir / f"{Path(name).stem}.{n}{Path(name).suffix}"
    return target


def quarantine(path: Path, error: PipelineError, quarantine_dir: Path, sha256: str | None, now: datetime) -> Path:
    """Move a rejected file to archive/_quarantine/YYYY-MM-DD/ with `<name>.reason.json` beside it."""
    target = _free_target(quarantine_dir / f"{now:%Y-%m-%d}", path.name, ".reason.json")
    if sha256 is None and not path.is_symlink():  # a link is never followed out of the inbox
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
    _write_atomic(target.with_name(target.name + ".reason.json"), _json_bytes(reason))
    _move(path, target)
    _fsync_dir(target.parent)
    log.warning("quarantined %s: %s", path.name, error.message)
    return target


def _json_bytes(record: dict[str, Any]) -> bytes:
    try:
        return json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")
    except UnicodeEncodeError:  # a file name that is not UTF-8: escape it rather than fail
        return json.dumps(record, ensure_ascii=True, indent=2).encode("ascii")


def _move(path: Path, target: Path) -> None:
    try:
        os.replace(path, target)
    except OSError:  # another filesystem: copy, flush, then remove
        if path.is_symlink():
            os.symlink(os.readlink(path), target)
        else:
            shutil.copy2(path, target)
            with target.open("rb") as fh:
                os.fsync(fh.fileno())
        path.unlink()


def set_aside_duplicate(path: Path, duplicates_dir: Path, sha256: str, of: str, now: datetime) -> Path:
    """Move a file that is already filed to `_duplicates/YYYY-MM-DD/` with `<name>.duplicate.json`.

    The record is `{"sha256", "of", "source", "at"}`: `of` is the archive-relative path of the
    filed PDF it repeats (the nightly report reads exactly this).
    """
    target = _free_target(duplicates_dir / f"{now:%Y-%m-%d}", path.name, ".duplicate.json")
    record = {
        "sha256": sha256,
        "of": of,
        "source": path.name,
        "at": now.astimezone(timezone.utc).isoformat(timespec="seconds"),
    }
    _write_atomic(target.with_name(target.name + ".duplicate.json"), _json_bytes(record))
    _move(path, target)
    _fsync_dir(target.parent)
    return target


def is_temp_name(name: str) -> bool:
    """Whether a file name is one of our temporary names (`.<name>.tmp-<pid>`), left by a crash."""
    return _TEMP_NAME.match(name) is not None


def leftover_temp_files(archive: Path, *, stale_only: bool = True) -> list[Path]:
    """Temporary files a killed writer left in the archive (the search index's own are not ours).

    Args:
        archive: the archive root.
        stale_only: only those whose writing process is gone (a running one may still rename it).
    """
    found = []
    for root, dirnames, filenames in os.walk(archive):
        if Path(root) == archive:
            dirnames[:] = [d for d in dirnames if not d.startswith("_index")]
        for name in filenames:
            m = _TEMP_NAME.match(name)
            if m and (not stale_only or not _alive(int(m[1]))):
                found.append(Path(root) / name)
    return sorted(found)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_original(path: Path) -> None:
    """Remove a consumed file from the inbox (only after everything from it is filed)."""
    try:
        path.unlink()
    except FileNotFoundError:
        pass
