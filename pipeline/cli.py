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
@click.option("-v", "--verbose", count=True, help="More log lines on stderr (-vv for every stage).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.version_option(__version__, prog_name="signoff")
@click.pass_context
def cli(ctx: click.Context, config: Path | None, verbose: int, quiet: bool, **flags: Any) -> None:
    """signoff: scanned delivery sign-off sheets into a searchable archive.

    Exit codes: 0 ok; 1 finished but something needs attention (a file quarantined, a sheet to
    chase); 2 usage or configuration error; 3 a tool (tesseract, poppler, zbar) is missing;
    4 the archive or index cannot be written; 130 interrupted.
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


def _run_files(ctx: click.Context, paths: list[Path], as_json: bool, dry_run: bool, remove: Callable[[Path], bool]) -> None:
    from pipeline.run import Pipeline
    from pipeline.views import echo_json, outcome_rows, progress, rows_table, stdout

    settings = settings_of(ctx)
    pipe = Pipeline(settings)
    with progress(len(paths), "reading scans") as advance:
        outcomes = pipe.process_many(paths, remove=remove, dry_run=dry_run, progress=lambda o: advance())
    rows = outcome_rows(outcomes, settings.archive)
    if as_json:
        for row in rows:
            echo_json(row)
    elif rows:
        stdout().print(rows_table(rows))
    else:
        click.echo("nothing to do: no files", err=True)
    quarantined = sum(1 for o in outcomes if o.error is not None)
    ctx.exit(ExitCode.ATTENTION if quarantined else ExitCode.OK)


@cli.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Read the files and print where they would be filed; change nothing.")
@click.option("--keep/--remove", default=None, help="Keep or remove the originals once filed (default: remove files that are in the inbox, keep others).")
@output_options
@click.pass_context
def process(ctx: click.Context, files: tuple[Path, ...], dry_run: bool, keep: bool | None, as_json: bool) -> None:
    """Read FILES, file each sheet into the archive and index it."""
    settings = settings_of(ctx)

    def remove(path: Path) -> bool:
        if keep is not None:
            return not keep
        return path.resolve().is_relative_to(settings.inbox)

    _run_files(ctx, list(files), as_json, dry_run, remove)


@cli.command()
@click.option("--once", is_flag=True, help="File everything in the inbox, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between looks at the inbox.")
@click.option("--settle", default=3.0, show_default=True, help="A file is taken once unchanged this many seconds.")
@output_options
@click.pass_context
def watch(ctx: click.Context, once: bool, interval: float, settle: float, as_json: bool) -> None:
    """File what arrives in the inbox: everything now with --once, else keep watching."""
    from pipeline.run import iter_inbox

    settings = settings_of(ctx)
    if not settings.inbox.is_dir():
        raise click.UsageError(f"the inbox {settings.inbox} does not exist")
    if once:
        _run_files(ctx, list(iter_inbox(settings.inbox)), as_json, False, lambda p: True)
        return
    click.echo(f"watching {settings.inbox} (Ctrl-C to stop)", err=True)
    from pipeline.run import Pipeline
    from pipeline.views import echo_json, outcome_rows, rows_table, stdout

    pipe = Pipeline(settings)
    while True:
        cutoff = time.time() - settle
        ready = [p for p in iter_inbox(settings.inbox) if p.stat().st_mtime <= cutoff]
        if ready:
            rows = outcome_rows(pipe.process_many(ready), settings.archive)
            for row in rows:
                echo_json(row) if as_json else stdout().print(rows_table([row]))
        time.sleep(interval)


# -- the index ----------------------------------------------------------------------------------
@cli.command()
@click.argument("query", nargs=-1, required=True)
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 10_000), help="Most hits to show.")
@output_options
@click.pass_context
def search(ctx: click.Context, query: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Search filed sheets: free words and customer:, delivery:, date:, sku:, missing: fields.

    \b
    Examples:
      signoff search pine board
      signoff search customer:nordic date:2025-03
      signoff search delivery:DN-2025-00*
      signoff search 'date:[2025-03-01 to 2025-03-31]' missing:signature
    """
    from pipeline.index import IndexStore
    from pipeline.views import echo_json, hits_table, stdout

    settings = settings_of(ctx)
    text = " ".join(query)
    store = IndexStore.open(settings.index_dir)
    try:
        hits = store.search(text, limit=limit)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    finally:
        store.close()
    if as_json:
        for hit in hits:
            echo_json(hit.to_json())
    else:
        if hits:
            stdout().print(hits_table(hits, f"{len(hits)} hit(s) for: {text}"))
        else:
            click.echo(f"no sheet matches: {text}", err=True)


@cli.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Rebuild the search index from the archive's sidecars (the index is derived data)."""
    from pipeline.index import rebuild

    settings = settings_of(ctx)
    count = rebuild(settings.index_dir, settings.archive)
    click.echo(f"indexed {count} sheet(s) from {settings.archive}", err=True)


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
