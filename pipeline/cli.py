"""The `signoff` command: one click group; each command body calls into pipeline.*."""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pipeline import __version__
from pipeline.errors import ExitCode, PipelineError
from pipeline.settings import Settings, load_settings

__all__ = ["cli", "main"]

log = logging.getLogger("pipeline")


class SignoffGroup(click.Group):
    """Maps our exceptions to exit codes in one place, by type, never by message."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PipelineError as exc:
            click.echo(f"signoff: error: {exc.message}", err=True)
            ctx.exit(int(exc.exit_code))
        except KeyboardInterrupt:
            click.echo("signoff: interrupted", err=True)
            ctx.exit(int(ExitCode.INTERRUPTED))


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    handler = logging.StreamHandler(sys.stderr)  # logs never go to stdout: stdout is data
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger("pipeline")
    root.handlers[:] = [handler]
    root.setLevel(level)


@click.group(cls=SignoffGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", type=click.Path(path_type=Path, dir_okay=False), help="Config file (default ./signoff.toml, or $SIGNOFF_CONFIG).")
@click.option("--inbox", type=click.Path(path_type=Path, file_okay=False), help="The drop folder scanners write into.")
@click.option("--archive", type=click.Path(path_type=Path, file_okay=False), help="Where sheets are filed.")
@click.option("--languages", help="Tesseract languages, e.g. eng,swe,chi_sim.")
@click.option("--date-order", type=click.Choice(["DMY", "MDY"], case_sensitive=False), help="How 03/04/2025 is read.")
@click.option("--customers", type=click.Path(path_type=Path, dir_okay=False), help="CSV of known customers (id,name).")
@click.option("--articles", type=click.Path(path_type=Path, dir_okay=False), help="CSV of known article numbers (a column sku): read codes are matched to them.")
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for every stage).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.version_option(__version__, prog_name="signoff")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int, quiet: bool, **flags: Any) -> None:
    """signoff: scanned delivery sign-off sheets into a searchable archive.

    Exit codes: 0 ok; 1 finished but something needs attention (a file quarantined, a sheet to
    chase); 2 usage or configuration error; 3 a tool (tesseract, poppler, zbar, the celery extra)
    is missing, or the celery broker does not answer; 4 the archive or index cannot be written;
    130 interrupted.
    """
    _configure_logging(verbose, quiet)
    ctx.obj = {"config": config, "flags": flags}


def settings_of(ctx: click.Context) -> Settings:
    obj = ctx.find_root().obj
    return load_settings(obj["config"], **obj["flags"])


def output_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Every command that prints data can print it as JSON for programs instead."""

    @click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per line) instead of a table.")
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)

    return wrapper


# -- reading and filing ----------------------------------------------------------------------------
@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@output_options
@click.pass_context
def inspect(ctx: click.Context, files: tuple[Path, ...], as_json: bool) -> None:
    """Read FILES and print what was found on them, without filing anything."""
    from pipeline.errors import DocumentError
    from pipeline.run import Pipeline
    from pipeline.views import doc_row, echo_json, rows_table, stdout

    pipe = Pipeline(settings_of(ctx))
    failed = 0
    rows = []
    for path in files:
        try:
            docs = pipe.read(path)
        except DocumentError as exc:
            failed += 1
            click.echo(f"signoff: {path}: {exc.message} [{exc.reason}]", err=True)
            continue
        for doc in docs:
            if as_json:
                echo_json(doc.to_json())
            else:
                rows.append(doc_row(doc, "(not filed)"))
    if rows:
        stdout().print(rows_table(rows))
    ctx.exit(ExitCode.ATTENTION if failed else ExitCode.OK)


def _run_files(
    ctx: click.Context, settings: Settings, paths: list[Path], as_json: bool, dry_run: bool, remove: Callable[[Path], bool]
) -> None:
    from pipeline.run import Pipeline
    from pipeline.views import echo_json, outcome_rows, progress, rows_table, stdout

    pipe = Pipeline(settings)
    # Each file's outcome becomes its rows as it comes (JSON Lines go out at once), and is let go:
    # a run of thousands of files holds only the table's rows.
    rows: list[dict[str, Any]] = []
    quarantined = 0
    with progress(None, "reading pages") as advance:
        for outcome in pipe.process_iter(paths, remove=remove, dry_run=dry_run, pages=lambda n, total: advance(n, total=total)):
            quarantined += outcome.error is not None
            for row in outcome_rows([outcome], settings.archive):
                echo_json(row) if as_json else rows.append(row)
    if rows:
        stdout().print(rows_table(rows))
    elif not as_json:
        click.echo("nothing to do: no files", err=True)
    ctx.exit(ExitCode.ATTENTION if quarantined else ExitCode.OK)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Read the files and print where they would be filed; change nothing.")
@click.option("--keep/--remove", default=None, help="Keep or remove the originals once filed (default: remove files that are in the inbox, keep others).")
@click.option("--workers", type=click.IntRange(0, 64), help="Reading processes (default: one per core). [setting: workers]")
@output_options
@click.pass_context
def process(ctx: click.Context, files: tuple[Path, ...], dry_run: bool, keep: bool | None, workers: int | None, as_json: bool) -> None:
    """Read FILES, file each sheet into the archive and index it.

    The pages are read in several processes (a single batch PDF too); the files are filed one by
    one, in the order given.
    """
    import dataclasses

    settings = settings_of(ctx)
    if workers is not None:
        settings = dataclasses.replace(settings, workers=workers)

    def remove(path: Path) -> bool:
        if keep is not None:
            return not keep
        return path.resolve().is_relative_to(settings.inbox)

    _run_files(ctx, settings, list(files), as_json, dry_run, remove)


@cli.command()
@click.option("--once", is_flag=True, help="File what is in the inbox now, then exit (for cron).")
@click.option("--poll", type=click.FloatRange(0, 86400), metavar="SECONDS", help="Look for changes every SECONDS instead of waiting for file events: for SMB and NFS shares. [setting: poll]")
@click.option("--settle", type=click.FloatRange(0, 86400), metavar="SECONDS", help="Take a file once it had no event and kept its size and time this long (default 3). [setting: settle]")
@click.option("--interval", "rescan_interval", type=click.FloatRange(0.5, 86400), metavar="SECONDS", help="Seconds between full looks at the inbox, for events that got lost (default 60). [setting: rescan_interval]")
@click.option("--workers", type=click.IntRange(0, 64), help="Reading processes (default: one per core). [setting: workers]")
@click.option("--executor", type=click.Choice(["local", "celery"]), help="Read in processes here (local, the default) or on `signoff worker` processes anywhere (celery). [setting: executor]")
@click.option("--broker", metavar="URL", help="The celery executor's Redis, e.g. redis://host:6379/0. [setting: broker]")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line on stderr, for machines.")
@output_options
@click.pass_context
def watch(ctx: click.Context, once: bool, log_json: bool, as_json: bool, **overrides: Any) -> None:
    """Watch the inbox (sub-folders too) and file each scan that arrives, or, with --once, what is there now.

    SIGTERM or Ctrl-C stops it cleanly (exit 0): what is being read stays in the inbox. One log
    line per file on stderr; `signoff status` shows what it is doing.

    With the celery executor, `signoff worker` processes on any machine that sees the inbox
    read the scans; this process alone files and indexes them.
    """
    import dataclasses

    from pipeline.service import WatchService
    from pipeline.service.logs import configure_logging
    from pipeline.service.rows import outcome_rows
    from pipeline.views import echo_json, rows_table, stdout

    settings = dataclasses.replace(settings_of(ctx), **{k: v for k, v in overrides.items() if v is not None}).validate()
    root = ctx.find_root().params
    level = logging.DEBUG if root["verbose"] > 1 else logging.INFO if root["verbose"] else logging.WARNING
    outcome_level = logging.WARNING if root["quiet"] or once else logging.INFO
    configure_logging(level, json_lines=log_json, service_level=min(level, outcome_level))
    printer = (lambda o: [echo_json(r) for r in outcome_rows(o, settings.archive)]) if as_json else None
    service = WatchService(settings, once=once, on_outcome=printer, log_level=level, log_json=log_json)
    summary = service.run()
    if once and not as_json:
        rows = [r for o in summary.outcomes for r in outcome_rows(o, settings.archive)]
        if rows:
            stdout().print(rows_table(rows))
        else:
            click.echo("nothing to do: no files", err=True)
    ctx.exit(ExitCode.ATTENTION if once and summary.quarantined else ExitCode.OK)


@cli.command()
@click.option("--concurrency", type=click.IntRange(1, 64), metavar="N", help="Reading processes (default: one per core).")
@click.option("--log-json", is_flag=True, help="Log one JSON object per line on stderr, for machines.")
@click.pass_context
def worker(ctx: click.Context, concurrency: int | None, log_json: bool) -> None:
    """Read scans for `signoff watch` (executor = "celery") on this machine, until SIGTERM or Ctrl-C.

    Takes tasks from the queue on `broker`; reads each file under this machine's `inbox` (the
    inbox share, mounted anywhere) and sends back what it read, writing nothing. The same
    signoff.toml as the service's (languages, customers, date_order, dpi), with inbox set to
    where the share is mounted here. Needs the celery extra: pip install 'signoff[celery]'.
    """
    import os

    from pipeline.service.celery_worker import serve
    from pipeline.service.logs import configure_logging

    settings = settings_of(ctx)
    root = ctx.find_root().params
    level = logging.DEBUG if root["verbose"] > 1 else logging.INFO if root["verbose"] else logging.WARNING
    service_level = min(level, logging.WARNING if root["quiet"] else logging.INFO)  # a line per page read
    configure_logging(level, json_lines=log_json, service_level=service_level)
    code = serve(settings, concurrency or os.cpu_count() or 1, log_level=level, service_level=service_level, log_json=log_json)
    ctx.exit(code)


@cli.command()
@output_options
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Show what `signoff watch` is doing: waiting, in flight, filed today, quarantined, last error.

    Also who reads: the executor, its queue's depth and the workers seen (the celery executor's
    are asked of the broker now; "broker unreachable" if it does not answer).
    """
    from pipeline.service import build_status, render_status
    from pipeline.views import echo_json

    found = build_status(settings_of(ctx))
    echo_json(found) if as_json else click.echo(render_status(found))


@cli.command()
@click.option("--repair", is_flag=True, help="Index what is filed but not indexed, drop index entries whose file is gone, delete temporary files crashes left.")
@output_options
@click.pass_context
def verify(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """Rehash every filed document against its sidecar; check the index and the archive agree.

    Lists anything missing, changed or unexpected; exit code 1 if it finds anything (not repaired).
    """
    from pipeline.service import verify_archive
    from pipeline.views import echo_json

    report = verify_archive(settings_of(ctx), repair=repair)
    for p in report.problems:
        echo_json(p.to_json()) if as_json else click.echo(f"{p.kind:<13} {p.path}: {p.detail}" + (" (repaired)" if p.repaired else ""))
    left = sum(not p.repaired for p in report.problems)
    click.echo(f"checked {report.documents} document(s) and {report.indexed} index entries: {left} problem(s)", err=True)
    ctx.exit(ExitCode.OK if report.ok else ExitCode.ATTENTION)


# -- the index ----------------------------------------------------------------------------------
def _day_bound(last: bool) -> Callable[[click.Context, click.Parameter, str | None], Any]:
    """--from/--to: a day, a month or a year; --from takes its first day, --to its last."""

    def convert(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        from pipeline.index.query import date_bounds

        if value is None:
            return None
        try:
            return date_bounds(value)[1 if last else 0]
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None

    return convert


def _open_index(settings: Settings) -> Any:
    """The index, rebuilt first (with a progress bar) if it was built for another schema version.

    Never created here: a reader creating it could race the pipeline doing the same. None
    when there is no index yet (nothing filed, or `signoff reindex` not run).
    """
    from pipeline.index import IndexMissing, count_sidecars, open_or_rebuild
    from pipeline.views import progress_count

    try:
        return open_or_rebuild(
            settings.index_dir,
            settings.archive,
            create=False,
            progress_bar=lambda: progress_count(count_sidecars(settings.archive), "rebuilding the index"),
        )
    except IndexMissing:
        click.echo(f"signoff: there is no search index in {settings.index_dir} yet: nothing filed, or run `signoff reindex`", err=True)
        return None


@cli.command()
@click.argument("query", nargs=-1)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Hits per page.")
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, None), help="Which page of hits.")
@click.option("--sort", type=click.Choice(["relevance", "date"]), default="relevance", show_default=True, help="Best match first, or newest first.")
@click.option("--from", "date_from", metavar="DATE", callback=_day_bound(False), help="Only sheets dated on or after DATE (2025-03-01, 2025-03, 2025).")
@click.option("--to", "date_to", metavar="DATE", callback=_day_bound(True), help="Only sheets dated on or before DATE.")
@click.option("--paths", "as_paths", is_flag=True, help="Print only the filed PDFs' paths, one per line (for scripts).")
@output_options
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, page: int, sort: str, date_from: Any, date_to: Any, as_paths: bool, as_json: bool) -> None:
    """Search filed sheets: free words, and fields such as customer:, delivery:, date:, missing:.

    \b
    Examples:
      signoff search pine board
      signoff search customer:nordic date:2025-03 --sort date
      signoff search delivery:DN-2025-00*
      signoff search 'date:[2025-03-01 to 2025-03-31]' missing:signature
      signoff search signed:no --from 2025-03 --paths
      signoff search goteborg~ version:all
    """
    from pipeline.index import QUERY_HELP
    from pipeline.views import print_results

    settings = settings_of(ctx)
    text = " ".join(query)
    if not text.strip() and not (date_from or date_to):
        raise click.UsageError("give a query (or --from/--to)\n\n" + QUERY_HELP)
    store = _open_index(settings)
    if store is None:
        return
    try:
        results = store.query(text, limit=limit, page=page, sort=sort, date_from=date_from, date_to=date_to)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        store.close()
    print_results(results, text or f"--from {date_from or '…'} --to {date_to or '…'}", settings.archive, as_json=as_json, as_paths=as_paths)


@cli.command()
@click.argument("delivery")
@click.option("--all", "all_versions", is_flag=True, help="Every version of a rescanned sheet, newest first.")
@output_options
@click.pass_context
def show(ctx: click.Context, delivery: str, all_versions: bool, as_json: bool) -> None:
    """Print one sheet's full record (its sidecar) and where its PDF is.

    DELIVERY is a delivery number (any case) or an archive path such as Acme/2025/03/DN-1.v2.pdf.
    Exit code 1 when no sheet has it.
    """
    from pipeline.index import find_records
    from pipeline.views import print_records

    settings = settings_of(ctx)
    store = _open_index(settings)
    if store is None:
        ctx.exit(ExitCode.ATTENTION)
    try:
        records = find_records(store, settings.archive, delivery)
    finally:
        store.close()
    if not records:
        click.echo(f"no filed sheet has delivery number {delivery}", err=True)
        ctx.exit(ExitCode.ATTENTION)
    shown = records if all_versions else [r for r in records if r.latest] or records[:1]
    print_records(shown, as_json=as_json, others=[r for r in records if r not in shown])


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the search index from the archive's sidecars (the index is derived data).

    The new index is built beside the old one, which keeps answering searches, and swapped in
    when complete; an interrupted rebuild leaves the old index as it was.
    """
    from pipeline.index import count_sidecars, rebuild
    from pipeline.views import progress_count

    settings = settings_of(ctx)
    started = time.monotonic()
    with progress_count(count_sidecars(settings.archive), "indexing sheets") as update:
        count = rebuild(settings.index_dir, settings.archive, progress=update)
    elapsed = time.monotonic() - started
    click.echo(f"indexed {count} sheet(s) from {settings.archive} in {elapsed:.1f} s", err=True)


# -- the nightly report ------------------------------------------------------------------------
_REPORT_DAY = click.DateTime(["%Y-%m-%d"])


@cli.command()
@click.option("--date", "day", type=_REPORT_DAY, metavar="YYYY-MM-DD", help="The filing day to report on (default: yesterday).")
@click.option("--since", type=_REPORT_DAY, metavar="YYYY-MM-DD", help="First filing day of the period.")
@click.option("--until", type=_REPORT_DAY, metavar="YYYY-MM-DD", help="Last filing day of the period (default: yesterday).")
@click.option("--expected", type=click.Path(path_type=Path, exists=True, dir_okay=False), help="Dispatch export (CSV) of the deliveries that went out.")
@click.option("--format", "fmt", type=click.Choice(["text", "md", "html", "csv", "json"]), default="text", show_default=True)
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), help="Write the report to this file instead of stdout.")
@click.option("--mail-to", multiple=True, metavar="ADDRESS", help="Also mail it (html with a text part) via the smtp_* settings; repeatable.")
@click.option("--all-versions", is_flag=True, help="Count every file filed, not only each delivery's newest version.")
@click.option("--full-scan", is_flag=True, help="Read every sidecar, not only those changed since the period began.")
@output_options
@click.pass_context
def report(ctx: click.Context, day: Any, since: Any, until: Any, expected: Path | None, fmt: str, out: Path | None, mail_to: tuple[str, ...], all_versions: bool, full_scan: bool, as_json: bool) -> None:
    """Which sheets filed in a period are incomplete, and which deliveries have no sign-off back.

    Exit code 0: nothing to chase; 1: something to chase (an incomplete sheet, an overdue
    delivery, a quarantined file); 2: the report could not be made or sent.
    """
    from pipeline.report.command import run_report

    as_date = lambda v: v.date() if v is not None else None  # noqa: E731
    settings = settings_of(ctx)
    code = run_report(
        settings, day=as_date(day), since=as_date(since), until=as_date(until), expected=expected,
        fmt="json" if as_json else fmt, out=out, mail_to=mail_to, latest_only=not all_versions, full_scan=full_scan,
    )
    ctx.exit(code)


# -- samples and the demo -----------------------------------------------------------------------
@cli.command()
@click.argument("outdir", type=click.Path(path_type=Path, file_okay=False))
@click.option("--seed", default=7, show_default=True, help="Same seed, same files.")
@click.option("--truth", type=click.Path(path_type=Path, dir_okay=False), help="Write what is on each sheet to this JSON file.")
@click.pass_context
def samples(ctx: click.Context, outdir: Path, seed: int, truth: Path | None) -> None:
    """Write generated sample scans (with known contents) into OUTDIR."""
    from pipeline.samples import write_demo_set, write_truth

    settings = settings_of(ctx)
    outdir.mkdir(parents=True, exist_ok=True)
    files = write_demo_set(outdir, seed=seed, date_order=settings.date_order)
    if truth:
        write_truth(files, truth)
    click.echo(f"wrote {len(files)} sample file(s) to {outdir}", err=True)


@cli.command()
@click.option("--seed", default=7, show_default=True, help="Which generated sample set to use.")
@click.pass_context
def demo(ctx: click.Context, seed: int) -> None:
    """Generate sample scans into the inbox, file them, show the result and two searches."""
    from pipeline.demo import run_demo

    ctx.exit(run_demo(settings_of(ctx), seed=seed))


def main() -> None:
    cli(prog_name="signoff")
