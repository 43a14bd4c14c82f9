"""Which inbox files the service takes: hidden, temporary and system files, its own folders and links are left alone."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.service.watcher import InboxRules, looks_complete


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.pdf",
        ".~lock.scan.pdf#",
        "~$scan.pdf",
        "scan.pdf.part",
        "scan.PART",
        "scan.tmp",
        "Scan.TMP",
        "scan.pdf.crdownload",
        "Thumbs.db",
        "THUMBS.DB",
        "desktop.ini",
        "Desktop.ini",
        ".DS_Store",
        "@eaDir/scan.pdf",
        "@EADIR/scan.pdf",
        "__MACOSX/scan.pdf",
        ".stfolder/scan.pdf",
        ".git/scan.pdf",
        "scanner-2/.hidden/scan.pdf",
        "scanner-2/@eaDir/deep/scan.pdf",
    ],
)
def test_ignored(tmp_path: Path, name: str) -> None:
    rules = InboxRules(tmp_path / "inbox")
    assert rules.ignored(tmp_path / "inbox" / name)


@pytest.mark.parametrize(
    "name",
    ["scan.pdf", "scanner-2/scan.pdf", "depot/north/scan.tif", "送货单 1.png", "leverans åäö.jpg", "tmp/scan.pdf", "scan.tmp.pdf"],
)
def test_taken(tmp_path: Path, name: str) -> None:
    rules = InboxRules(tmp_path / "inbox")
    assert not rules.ignored(tmp_path / "inbox" / name)


def test_outside_the_inbox_and_the_inbox_itself_are_ignored(tmp_path: Path) -> None:
    rules = InboxRules(tmp_path / "inbox")
    assert rules.ignored(tmp_path / "elsewhere.pdf")
    assert rules.ignored(tmp_path / "inbox")
    assert rules.ignored(tmp_path / "inbox" / ".." / "x.pdf")


def test_an_archive_inside_the_inbox_is_never_taken_from(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    rules = InboxRules(inbox, own=[inbox / "archive", tmp_path / "other"])
    assert rules.ignored(inbox / "archive", is_dir=True)
    assert rules.ignored(inbox / "archive" / "_quarantine" / "2026-01-01" / "bad.pdf")
    assert rules.ignored(inbox / "archive" / "Acme" / "2025" / "03" / "DN-1.pdf")
    assert not rules.ignored(inbox / "archive-2" / "scan.pdf")


def test_walk_finds_files_in_sub_folders_skips_ignored_and_never_follows_links(tmp_path: Path) -> None:
    inbox, outside = tmp_path / "inbox", tmp_path / "outside"
    (inbox / "scanner-2").mkdir(parents=True)
    (inbox / "@eaDir").mkdir()
    (inbox / "archive" / "_quarantine").mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.pdf").write_bytes(b"%PDF-")
    for rel in ("a.pdf", "scanner-2/b.png", "@eaDir/c.pdf", ".d.pdf", "e.part", "archive/_quarantine/f.pdf"):
        (inbox / rel).write_bytes(b"x")
    (inbox / "link.pdf").symlink_to(outside / "secret.pdf")
    (inbox / "linked-folder").symlink_to(outside, target_is_directory=True)
    os.mkfifo(inbox / "pipe.pdf")

    found = {p.relative_to(inbox).as_posix(): st for p, st in InboxRules(inbox, own=[inbox / "archive"]).walk()}

    assert set(found) == {"a.pdf", "scanner-2/b.png", "link.pdf", "linked-folder"}
    # Links come back as links (to be quarantined as such), never as what they point to.
    assert all(os.path.islink(inbox / name) for name in ("link.pdf", "linked-folder"))
    assert "linked-folder/secret.pdf" not in found


@pytest.mark.parametrize(
    ("data", "complete"),
    [
        (b"", False),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", False),
        (b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n", True),
        (b"%PDF-1.4\n" + b"x" * 5000 + b"%%EOF\r\n", True),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, False),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100 + b"IEND\xaeB`\x82", True),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, False),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100 + b"\xff\xd9", True),
        (b"II*\x00" + b"\x00" * 100, True),  # TIFF has no trailer: only the settle delay protects it
        (b"not a scan at all", True),  # the reader will say what is wrong with it
    ],
)
def test_looks_complete(tmp_path: Path, data: bytes, complete: bool) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    assert looks_complete(path) is complete
