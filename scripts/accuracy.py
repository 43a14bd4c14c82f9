"""Accuracy benchmark: how well `signoff inspect` reads a wide generated corpus, field by field.

Usage: .venv/bin/python scripts/accuracy.py [--count 200] [--seed 1] [--profile scanner|heavy|both]
       [--workdir DIR] [--jobs 2] [--articles] [--json]
(`bash scripts/accuracy.sh` does the set-up first). With --workdir, a corpus already there (truth.json) is
reused and only read again; without it the corpus lives in a temporary folder. The reader's raw records
are kept in WORKDIR/records.jsonl. Scoring is `pipeline.samples.score`.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pipeline.samples import PROFILES, load_truth, write_articles_csv, write_corpus, write_customers_csv, write_truth
from pipeline.samples.fax import FAX_DPI, word_recall, write_fax_set
from pipeline.samples.score import format_score, score
from pipeline.samples.truth import SampleFile


def _signoff() -> list[str]:
    exe = Path(sys.executable).with_name("signoff")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "pipeline"]


def _corpus(workdir: Path, args: argparse.Namespace) -> list[SampleFile]:
    truth = workdir / "truth.json"
    profiles = PROFILES if args.profile == "both" else (args.profile,)
    if truth.exists():
        files = [f for f in load_truth(truth) if (f.profile or "scanner") in profiles]
        print(f"accuracy: reusing {len(files)} files from {truth}", file=sys.stderr)
        return files
    files = []
    for profile in profiles:
        t0 = time.monotonic()
        files += write_corpus(workdir / profile, count=args.count, seed=args.seed, profile=profile)
        print(f"accuracy: wrote the {profile} corpus in {time.monotonic() - t0:.0f}s", file=sys.stderr)
    write_truth(files, truth)
    return files


class ReaderCrashed(RuntimeError):
    """`signoff inspect` died (a traceback, or an exit code other than 0 and 1)."""


def _read(files: list[SampleFile], workdir: Path, jobs: int, signoff: list[str], articles: bool = False) -> list[dict[str, object]]:
    """Run `signoff inspect --json` over the files in `jobs` parallel chunks (balanced by page count).

    Output goes to files (WORKDIR/inspect-N.jsonl and .log), not pipes, so no process stalls on a full pipe.
    """
    customers = workdir / "customers.csv"
    write_customers_csv(customers)
    chunks: list[list[SampleFile]] = [[] for _ in range(max(1, min(jobs, len(files))))]
    for f in sorted(files, key=lambda f: -len(f.page_kinds)):
        min(chunks, key=lambda c: sum(len(x.page_kinds) for x in c)).append(f)
    known = ["--customers", str(customers)]
    if articles:  # the shipper's article list, as a deployment that has one configures it
        write_articles_csv(workdir / "articles.csv")
        known += ["--articles", str(workdir / "articles.csv")]
    base = [*signoff, *known, "--date-order", "dmy", "inspect", "--json"]
    procs = []
    for n, chunk in enumerate(chunks, start=1):
        out, log = workdir / f"inspect-{n}.jsonl", workdir / f"inspect-{n}.log"
        with out.open("w", encoding="utf-8") as fo, log.open("w", encoding="utf-8") as fe:
            # cwd=workdir: no stray signoff.toml in the caller's folder changes what is measured
            argv = [*base, *(str(f.path.resolve()) for f in chunk)]
            procs.append((subprocess.Popen(argv, cwd=workdir, stdout=fo, stderr=fe), out, log))
    records: list[dict[str, object]] = []
    for proc, out, log in procs:
        code = proc.wait()
        # 1 is "finished, with sheets to chase"; an uncaught exception also exits 1, hence the traceback check
        if code not in (0, 1) or "Traceback (most recent call last)" in log.read_text(encoding="utf-8"):
            raise ReaderCrashed(f"signoff inspect exited {code}; see {log}")
        text = out.read_text(encoding="utf-8")
        records += [json.loads(line) for line in text.splitlines() if line.strip()]
    with (workdir / "records.jsonl").open("w", encoding="utf-8") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return records


def _tesseract_text(image: Path, scale: int, workdir: Path) -> str:
    """Plain tesseract (default page segmentation, every language) on an image, optionally enlarged first."""
    from PIL import Image

    src = image
    if scale != 1:
        src = workdir / f"{image.stem}-x{scale}.png"
        with Image.open(image) as im:
            im.convert("L").resize((im.width * scale, im.height * scale), Image.Resampling.LANCZOS).save(
                src, dpi=(FAX_DPI * scale, FAX_DPI * scale)
            )
    argv = ["tesseract", str(src), "-", "-l", "eng+swe+chi_sim", "--dpi", str(FAX_DPI * scale)]
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout


def _fax(workdir: Path, count: int, seed: int, signoff: list[str]) -> dict[str, object]:
    """Word recall on old 100 dpi fax-like pages: plain tesseract as they are, enlarged 2x, and signoff."""
    folder = workdir / "fax"
    pages = write_fax_set(folder, count=count, seed=seed)
    out = subprocess.run(
        [*signoff, "inspect", "--json", *(str(p.path) for p in pages)],
        cwd=workdir, capture_output=True, text=True, check=False,
    )
    if out.returncode not in (0, 1):
        raise ReaderCrashed(f"signoff inspect exited {out.returncode} on the fax pages: {out.stderr[-500:]}")
    ours: dict[str, str] = {}
    for line in out.stdout.splitlines():
        if line.strip():
            rec = json.loads(line)
            name = Path(rec["source"]).name
            ours[name] = ours.get(name, "") + "\n" + (rec.get("text") or "")
    tally = {"as_is": [0, 0], "x2": [0, 0], "signoff": [0, 0]}
    by_lang: dict[str, list[int]] = {}
    for page in pages:
        for key, text in (
            ("as_is", _tesseract_text(page.path, 1, folder)),
            ("x2", _tesseract_text(page.path, 2, folder)),
            ("signoff", ours.get(page.path.name, "")),
        ):
            found, total = word_recall(page.text, text)
            tally[key][0] += found
            tally[key][1] += total
            if key == "signoff":
                lang = by_lang.setdefault(page.language, [0, 0])
                lang[0] += found
                lang[1] += total
    ratio = {k: round(f / t, 3) if t else None for k, (f, t) in tally.items()}
    ratio["signoff_by_language"] = {k: round(f / t, 3) for k, (f, t) in sorted(by_lang.items()) if t}
    ratio["pages"] = len(pages)
    return ratio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=200, help="documents per profile (default 200)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--profile", choices=(*PROFILES, "both"), default="scanner")
    ap.add_argument("--workdir", type=Path, help="keep (or reuse) the corpus and records here")
    ap.add_argument("--jobs", type=int, default=2, help="parallel signoff processes (default 2)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    ap.add_argument("--articles", action="store_true", help="read with the generator's article list configured (articles = CSV)")
    ap.add_argument("--signoff", help="reader command to measure (default: this virtualenv's signoff)")
    ap.add_argument("--fax", type=int, default=12, metavar="N",
                    help="also measure word recall on N old 100 dpi fax-like pages (default 12; 0 skips)")
    args = ap.parse_args()
    if args.count < 1 or args.jobs < 1:
        ap.error("--count and --jobs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="signoff-accuracy-") as tmp:
        workdir = (args.workdir or Path(tmp)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        files = _corpus(workdir, args)
        t0 = time.monotonic()
        signoff = shlex.split(args.signoff) if args.signoff else _signoff()
        try:
            records = _read(files, workdir, args.jobs, signoff, args.articles)
        except ReaderCrashed as exc:
            print(f"accuracy: the reader crashed, nothing scored: {exc}", file=sys.stderr)
            if args.workdir is None:
                print("accuracy: rerun with --workdir to keep the logs", file=sys.stderr)
            return 3
        seconds = time.monotonic() - t0
        result = score(files, records)
        if args.fax > 0:
            result["fax"] = _fax(workdir, args.fax, args.seed, signoff)
    pages = sum(len(f.page_kinds) for f in files)
    result["run"] = {"files": len(files), "pages": pages, "records": len(records), "read_seconds": round(seconds, 1)}
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        print(format_score(result))
        if "fax" in result:
            fx = result["fax"]
            langs = "  ".join(f"{k} {100 * v:.0f}%" for k, v in fx["signoff_by_language"].items())
            print(
                f"\nwords read on {fx['pages']} old 100 dpi fax-like pages: tesseract as they are {100 * fx['as_is']:.0f}%, "
                f"enlarged 2x {100 * fx['x2']:.0f}%, signoff {100 * fx['signoff']:.0f}% ({langs})"
            )
        print(f"\n{len(files)} files, {pages} pages, {len(records)} records, read in {seconds:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
