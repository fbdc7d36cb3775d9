"""Commands of the API area: ``api``, ``ingest``, ``reclassify``, ``jobs``."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
import uvicorn
from rich.console import Console
from rich.progress import Progress
from rich.table import Column, Table

from services.api.ingest import LayoutError, read_labels, wait_for_predictions
from services.api.ingest_rows import clean_id, find_source
from services.api.ingest_run import IngestOptions, IngestSummary, ingest_to_pipeline
from services.cli.progress import ingest_progress, progress_bar
from services.reclassify.runner import RunOptions, run_job, runner_name
from shared.config import Settings, get_settings
from shared.db.jobs import JobFilter, JobNotFound, cancel_job, create_job, get_job, job_view, list_jobs
from shared.db.session import migrate, session_scope
from shared.logging import configure_logging

console = Console(stderr=True)
out = Console()
jobs_app = typer.Typer(help="Bulk reclassification jobs: list, show, cancel.", no_args_is_help=True)


def _progress() -> Progress:
    return progress_bar(field="note", console=console)


def api(
    host: Annotated[str | None, typer.Option(help="Bind address (default CATALOG_API_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default CATALOG_API_PORT).")] = None,
) -> None:
    """Serve the HTTP API and the dashboard (http://HOST:PORT/dashboard, OpenAPI at /docs)."""

    from services.api.server import uvicorn_config
    from services.cli.wiring import api_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    host, port = host or settings.api_host, port or settings.api_port
    uvicorn.Server(uvicorn_config(api_app(settings), settings, host, port, log_config=None)).run()


def ingest(
    data_dir: Annotated[Path, typer.Argument(help="A directory in the challenge layout (X_*.csv, images/).")],
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N good offers.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait for every prediction; F1 if labelled.")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds --wait waits at most.")] = 900.0,
    chunk: Annotated[int, typer.Option(min=1, help="Offers stored and published per round trip.")] = 500,
    again: Annotated[
        bool, typer.Option("--again", help="Submit the file anew (new ids) instead of resuming it.")
    ] = False,
    rejects: Annotated[
        Path | None, typer.Option(help="Folder of the rejects file (default DATA_DIR/rejects).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write a JSON summary here.")] = None,
) -> None:
    """Publish the offers of DATA_DIR for classification (optionally wait and score them).

    Rows are streamed (memory does not grow with the file) and checked as the API checks an
    offer: a bad row is rejected with its row number and reason, into DATA_DIR/rejects/ (the
    challenge layout plus source_row and reason columns: fix it and ingest that folder), and
    every good row is published. Running the same file again resumes it: rows the submissions
    ledger already holds are skipped, so none is published twice. With --wait, polls the
    database until every offer is classified and prints weighted F1 when labels are present.
    """
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    if not data_dir.is_dir():
        raise typer.BadParameter(f"{data_dir} is not a directory", param_hint="DATA_DIR")
    try:
        source = find_source(data_dir)
    except LayoutError as exc:
        raise typer.BadParameter(str(exc), param_hint="DATA_DIR") from exc
    kept: list[tuple[uuid.UUID, str]] = []  # --wait only: (submission id, index) of each good row
    with ingest_progress(console) as bar:
        task = bar.add_task("ingesting", total=source.size, note="")

        def show(done: int, s: IngestSummary) -> None:
            bar.update(task, completed=done, note=f"{s.rows:,} rows, {s.rejected:,} rejected")

        options = IngestOptions(
            chunk=chunk, limit=limit, again=again, rejects_dir=rejects, progress=show,
            keep=(lambda row, event: kept.append((event.submission_id, row.index))) if wait else None,
        )  # fmt: skip
        try:
            result = asyncio.run(ingest_to_pipeline(settings, source, options))
        except LayoutError as exc:
            raise typer.BadParameter(str(exc), param_hint="DATA_DIR") from exc
        except KeyboardInterrupt:
            console.print("[yellow]interrupted[/yellow]: run the same command again to resume")
            raise typer.Exit(130) from None
    _print_ingest(result)
    summary: dict[str, Any] = result.as_dict()
    if wait:
        summary.update(_wait(settings, data_dir, source.x_path.name, kept, timeout))
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(summary, indent=2))
    if wait and summary["missing"]:
        console.print(f"[red]{summary['missing']} offers not classified within {timeout:.0f} s[/red]")
        raise typer.Exit(1)


def _print_ingest(result: IngestSummary) -> None:
    skipped = f", {result.already_submitted} already submitted (skipped)" if result.already_submitted else ""
    console.print(
        f"published {result.published} offers from {result.data_dir}/{result.x_file} "
        f"({result.rows} rows{skipped}, {result.rejected} rejected)"
    )
    for bad in result.first_rejects[:20]:
        console.print(f"  [red]rejected[/red] row {bad['row']} (line {bad['line']}): {bad['reason']}")
    if result.rejected > 20:
        console.print(f"  ... and {result.rejected - 20} more")
    if result.rejects_file:
        console.print(
            f"rejected rows with their reasons: {result.rejects_file} (fix them, then ingest that folder)"
        )


def _wait(
    settings: Settings, data_dir: Path, x_file: str, kept: list[tuple[uuid.UUID, str]], timeout: float
) -> dict[str, Any]:
    """Poll until every published offer is classified; weighted F1 when the Y file is there."""
    with _progress() as bar:
        task = bar.add_task("classified", total=len(kept), note="")
        found = wait_for_predictions(
            settings.effective_database_url,
            [sid for sid, _ in kept],
            timeout,
            progress=lambda n: bar.advance(task, n),
        )
    labels = read_labels(data_dir, x_file)
    pairs = [(labels.get(clean_id(index)), found[sid]) for sid, index in kept if sid in found]
    scored = [(truth, pred) for truth, pred in pairs if truth is not None]
    f1 = None
    if scored:
        from sklearn.metrics import f1_score

        f1 = float(f1_score([t for t, _ in scored], [p for _, p in scored], average="weighted"))
    console.print(f"classified {len(found)}/{len(kept)}")
    if f1 is not None:
        out.print(f"weighted F1: {f1:.4f}")
    return {"classified": len(found), "missing": len(kept) - len(found), "weighted_f1": f1}


def reclassify(
    category: Annotated[int | None, typer.Option(help="Only listings currently in this category.")] = None,
    since: Annotated[
        datetime | None, typer.Option(help="Only listings created/updated since (ISO date).")
    ] = None,
    model_version: Annotated[str | None, typer.Option(help="Only listings last classified by it.")] = None,
    max_in_flight: Annotated[int, typer.Option(min=1, help="Most offers queued at once.")] = 1000,
    page_size: Annotated[int, typer.Option(min=1, help="Listings read and published per page.")] = 500,
    resume: Annotated[str | None, typer.Option(help="Resume this job id (after a crash or Ctrl-C).")] = None,
    stall_timeout: Annotated[
        float, typer.Option(help="Fail after this many seconds without progress.")
    ] = 600,
) -> None:
    """Re-run stored listings through the pipeline, throttled and resumable.

    Listings are read in keyset pages and published with origin=reclassify; at most
    --max-in-flight are queued at once, so live offers keep flowing. The cursor is saved after
    each page: `--resume JOB_ID` continues where a crashed or interrupted run stopped.
    """
    settings = get_settings()
    configure_logging("WARNING", settings.log_format)
    url = settings.effective_database_url
    migrate(url)
    runner = runner_name("cli")  # this process runs the job (a reclassify worker takes over if it dies)
    if resume:
        job_id = _job_id(resume)
        try:
            with session_scope(url) as session:
                view = job_view(get_job(session, job_id))
        except JobNotFound as exc:
            raise typer.BadParameter(f"{exc}; see `catalog jobs list`", param_hint="--resume") from exc
    else:
        flt = JobFilter(category=category, since=since, model_version=model_version)
        with session_scope(url) as session:
            job = create_job(
                session, flt, max_in_flight, status="running", page_size=page_size, runner=runner
            )
            view = job_view(job)
        job_id = uuid.UUID(view["job_id"])
    console.print(
        f"job {job_id}: {view['total']} listings (resume with `catalog reclassify --resume {job_id}`)"
    )
    with _progress() as bar:
        task = bar.add_task("reclassified", total=view["total"], note="")

        def show(v: dict[str, Any]) -> None:
            note = f"published {v['published']} in flight {v['in_flight']} {v['status']}"
            bar.update(task, completed=v["completed"], total=max(v["total"], v["published"]), note=note)

        try:
            options = RunOptions(page_size, 0.5, stall_timeout, settings.job_lease_s / 4)
            final = asyncio.run(run_job(settings, job_id, options, show, runner=runner))
        except KeyboardInterrupt:
            console.print(f"interrupted; resume with `catalog reclassify --resume {job_id}`")
            raise typer.Exit(130) from None
        except Exception as exc:  # no traceback: the job is intact in SQL, say how to go on
            console.print(
                f"[red]reclassification stopped: {type(exc).__name__}: {exc}[/red]\n"
                f"the job is saved; resume with `catalog reclassify --resume {job_id}` "
                "(a running reclassify worker also takes it over after CATALOG_JOB_LEASE_S)"
            )
            raise typer.Exit(1) from None
    out.print_json(json.dumps(final))
    if final["status"] == "failed":
        raise typer.Exit(1)


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r} is not a job id (a UUID from `catalog jobs list`)") from exc


@jobs_app.command("list")
def jobs_list(limit: Annotated[int, typer.Option(min=1)] = 20) -> None:
    """Recent reclassification jobs and their progress."""

    url = get_settings().effective_database_url
    migrate(url)
    with session_scope(url) as session:
        views = [job_view(j) for j in list_jobs(session, limit)]
    table = Table("status", "completed", "published", "total", "in flight", "created")
    table.columns.insert(0, Column("job", no_wrap=True, min_width=36))
    for v in views:
        table.add_row(
            v["job_id"], v["status"], str(v["completed"]), str(v["published"]), str(v["total"]),
            str(v["in_flight"]), v["created_at"][:19],
        )  # fmt: skip
    out.print(table)


def _job_command(job: str, cancel: bool) -> None:
    url = get_settings().effective_database_url
    migrate(url)
    try:
        with session_scope(url) as session:
            view = job_view(cancel_job(session, _job_id(job)) if cancel else get_job(session, _job_id(job)))
    except JobNotFound as exc:
        raise typer.BadParameter(f"{exc}; see `catalog jobs list`", param_hint="JOB_ID") from exc
    out.print_json(json.dumps(view))


@jobs_app.command("show")
def jobs_show(job: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """One job as JSON (progress, cursor, error)."""
    _job_command(job, cancel=False)


@jobs_app.command("cancel")
def jobs_cancel(job: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job: its runner stops before publishing its next page."""
    _job_command(job, cancel=True)


def register(app: typer.Typer) -> None:
    app.command("api")(api)
    app.command("ingest")(ingest)
    app.command("reclassify")(reclassify)
    app.add_typer(jobs_app, name="jobs")
