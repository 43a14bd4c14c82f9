"""One frozen Settings, built once at the CLI boundary: defaults < signoff.toml < SIGNOFF_* env < flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError

__all__ = ["Settings", "load_settings", "redact_url"]

CONFIG_NAME = "signoff.toml"
KNOWN_LANGUAGES = {"eng", "swe", "chi_sim"}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything configurable. Paths are absolute once loaded."""

    inbox: Path = Path("inbox")
    archive: Path = Path("archive")
    languages: tuple[str, ...] = ("eng", "swe", "chi_sim")
    date_order: str = "DMY"  # how 03/04/2025 is read: "DMY" or "MDY"
    customers: Path | None = None  # CSV with columns id,name
    articles: Path | None = None  # CSV with a column sku: the article numbers a read code is matched to
    dpi: int = 300  # rasterising resolution for PDFs
    # `signoff report`: days after its delivery date before a delivery with no valid sign-off is overdue
    report_grace_days: int = 3
    # `signoff report --expected`: the dispatch export's column names (matched ignoring case)
    expected_delivery_column: str = "delivery_number"
    expected_customer_column: str = "customer"
    expected_date_column: str = "delivery_date"
    # `signoff report --mail-to`: the SMTP server the report is sent through
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str | None = None  # default: signoff@<this host's name>
    smtp_user: str | None = None  # log in only when set
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # `signoff watch`: the drop-folder service
    poll: float = 0.0  # seconds between looks for file changes; 0: file events (use e.g. 5 on SMB/NFS)
    settle: float = 3.0  # a file is taken once it had no event and kept its size and mtime this long
    workers: int = 0  # reading processes; 0: one per core
    rescan_interval: float = 60.0  # seconds between full looks at the inbox, for events that got lost
    incomplete_timeout: float = 300.0  # a young file that does not parse yet is retried this long
    # Who reads the scans `signoff watch` files: "local" (its own processes, `workers` of them) or
    # "celery" (`signoff worker` processes on any machine that sees the inbox, through `broker`)
    executor: str = "local"
    broker: str | None = None  # redis://[:password@]host:6379/0: the celery executor's queue
    result_backend: str | None = None  # where the workers leave what they read; default: the broker
    # A Celery worker that has not said it is alive for this long counts as gone: what it was
    # reading is sent to another (it says so every fifth of this)
    worker_timeout: float = 15.0
    config_file: Path | None = None

    @property
    def quarantine(self) -> Path:
        return self.archive / "_quarantine"

    @property
    def index_dir(self) -> Path:
        return self.archive / "_index"

    def validate(self) -> Settings:
        """Raise ConfigError for anything that would make a run go wrong later."""
        if self.date_order not in ("DMY", "MDY"):
            raise ConfigError(f'date_order must be "DMY" or "MDY", not {self.date_order!r}')
        if not self.languages:
            raise ConfigError("languages must name at least one tesseract language pack")
        for lang in self.languages:
            if not lang.replace("_", "").isalnum():
                raise ConfigError(f"languages: {lang!r} is not a tesseract language name")
        if not 72 <= self.dpi <= 600:
            raise ConfigError(f"dpi must be between 72 and 600, not {self.dpi}")
        if self.customers is not None and not self.customers.is_file():
            raise ConfigError(f"customers: no such file {self.customers}")
        if self.articles is not None and not self.articles.is_file():
            raise ConfigError(f"articles: no such file {self.articles}")
        if not 0 <= self.report_grace_days <= 3650:
            raise ConfigError(f"report_grace_days must be between 0 and 3650, not {self.report_grace_days}")
        for key in ("expected_delivery_column", "expected_customer_column", "expected_date_column"):
            if not str(getattr(self, key)).strip():
                raise ConfigError(f"{key} must name a column of the dispatch export")
        if not 1 <= self.smtp_port <= 65535:
            raise ConfigError(f"smtp_port must be between 1 and 65535, not {self.smtp_port}")
        for key in ("poll", "settle", "incomplete_timeout"):
            if not 0 <= getattr(self, key) <= 86400:
                raise ConfigError(f"{key} must be between 0 and 86400 seconds, not {getattr(self, key)}")
        if not 0.5 <= self.rescan_interval <= 86400:
            raise ConfigError(f"rescan_interval must be between 0.5 and 86400 seconds, not {self.rescan_interval}")
        if not 0 <= self.workers <= 64:
            raise ConfigError(f"workers must be between 0 (one per core) and 64, not {self.workers}")
        if self.executor not in EXECUTORS:
            raise ConfigError(f'executor must be "local" or "celery", not {self.executor!r}')
        if self.executor == "celery" and not self.broker:
            raise ConfigError('executor = "celery" needs a broker, e.g. broker = "redis://localhost:6379/0"')
        for key in ("broker", "result_backend"):
            url = getattr(self, key)
            if url is not None and url.partition("://")[0] not in REDIS_SCHEMES:
                raise ConfigError(f"{key} must be a Redis URL (redis://host:6379/0 or rediss://...), not {redact_url(url)!r}")
        if not 1 <= self.worker_timeout <= 3600:
            raise ConfigError(f"worker_timeout must be between 1 and 3600 seconds, not {self.worker_timeout}")
        return self


EXECUTORS = ("local", "celery")
REDIS_SCHEMES = ("redis", "rediss")


def redact_url(url: str) -> str:
    """A URL without its password, to show in messages and `signoff status`."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at:
        return url
    user = auth.partition(":")[0]
    return f"{scheme}://{user + ':' if user else ':'}***@{host}"


def _parse(key: str, raw: Any) -> Any:
    """Turn a TOML or environment value into the field's type."""
    if key in ("inbox", "archive", "customers", "articles", "config_file"):
        return Path(str(raw)) if raw not in (None, "") else None
    if key == "languages":
        if isinstance(raw, str):
            raw = [p for p in raw.replace("+", ",").split(",")]
        if not isinstance(raw, (list, tuple)):
            raise ConfigError("languages must be a list such as [\"eng\", \"swe\"]")
        return tuple(str(x).strip() for x in raw if str(x).strip())
    if key == "date_order":
        return str(raw).upper()
    if key in ("dpi", "report_grace_days", "smtp_port", "workers"):
        if isinstance(raw, bool):  # TOML `true` is not a number
            raise ConfigError(f"{key} must be a whole number, not {raw!r}")
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a whole number, not {raw!r}") from None
    if key in _SECONDS_KEYS:
        if isinstance(raw, bool):
            raise ConfigError(f"{key} must be a number of seconds, not {raw!r}")
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number of seconds, not {raw!r}") from None
    if key == "smtp_starttls":
        return _parse_bool(key, raw)
    if key in _TEXT_KEYS:
        if isinstance(raw, (list, dict, bool)):
            raise ConfigError(f"{key} must be text, not {raw!r}")
        text = str(raw) if key == "smtp_password" else str(raw).strip()  # a password keeps its spaces
        if key.startswith("smtp_") or key in ("broker", "result_backend"):
            return text or None  # set to "": not set
        if key == "executor":
            return text.lower()
        return text
    return raw


_SECONDS_KEYS = ("poll", "settle", "rescan_interval", "incomplete_timeout", "worker_timeout")

_TEXT_KEYS = (
    "expected_delivery_column",
    "expected_customer_column",
    "expected_date_column",
    "smtp_host",
    "smtp_from",
    "smtp_user",
    "smtp_password",
    "executor",
    "broker",
    "result_backend",
)


def _parse_bool(key: str, raw: Any) -> bool:
    """A TOML boolean, or an environment value such as 1/0, true/false, yes/no, on/off."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key} must be true or false, not {raw!r}")


def load_settings(
    config: Path | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    **flags: Any,
) -> Settings:
    """Build Settings from the config file, the environment and command-line flags.

    Args:
        config: the file `--config` names; else `SIGNOFF_CONFIG`; else `./signoff.toml` if present.
        env: the environment (defaults to os.environ).
        cwd: where relative paths start when there is no config file.
        **flags: values given on the command line; None means "not given".
    """
    env = os.environ if env is None else env
    cwd = cwd or Path.cwd()
    names = {f.name for f in fields(Settings)} - {"config_file"}
    # Each value remembers where a relative path in it starts: the config file's folder for
    # values from the file, the working directory for values from the environment or flags.
    values: dict[str, tuple[Any, Path]] = {}

    path = config or (Path(env["SIGNOFF_CONFIG"]) if env.get("SIGNOFF_CONFIG") else None)
    if path is None and (cwd / CONFIG_NAME).is_file():
        path = cwd / CONFIG_NAME
    if path is not None:
        path = (cwd / path).resolve()
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        unknown = set(data) - names
        if unknown:
            raise ConfigError(f"{path}: unknown key(s): {', '.join(sorted(unknown))}")
        values.update({k: (_parse(k, v), path.parent) for k, v in data.items()})
    for name in names:
        raw = env.get(f"SIGNOFF_{name.upper()}")
        if raw is not None and raw != "":
            values[name] = (_parse(name, raw), cwd)
    for name, raw in flags.items():
        if raw is not None and name in names:
            values[name] = (_parse(name, raw), cwd)

    def absolute(key: str, default: Path | None) -> Path | None:
        value, base = values.get(key, (None, cwd))
        if value is None and default is not None:
            value, base = default, cwd  # not set, or set to "": the default beside the cwd
        if value is None or value.is_absolute():
            return value
        return (base / value).resolve()

    plain = {k: v for k, (v, _) in values.items() if k not in ("inbox", "archive", "customers", "articles")}
    return replace(
        Settings(),
        **plain,
        inbox=absolute("inbox", Path("inbox")),
        archive=absolute("archive", Path("archive")),
        customers=absolute("customers", None),
        articles=absolute("articles", None),
        config_file=path,
    ).validate()
