"""Settings: one object built once at start-up from ambient.toml, `.env` and the environment.

Precedence, highest first: process environment (``AMBIENT_*``, nested with ``__``), ``.env`` in the
config dir, ``ambient.toml`` in the config dir, then the defaults below. Secrets (passwords, API
keys) are never settings values: a setting names the variable (``password_env = "WORK_IMAP_PW"``)
and :class:`Secrets` resolves it, so a secret never lands in a repr, a log line or a trace.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from dotenv import dotenv_values
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, ValidationInfo
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from ambient.core.alert_settings import AlertSettings
from ambient.core.errors import ConfigError
from ambient.core.mcp_settings import McpServerList
from ambient.core.rule_settings import PreRuleSettings, RuleList
from ambient.core.schedule import cron_trigger, time_zone

CONFIG_FILE_NAME = "ambient.toml"
ENV_FILE_NAME = ".env"


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _schedule_error(info: ValidationInfo, error: ValueError) -> PydanticCustomError:
    name = info.data.get("name")
    reason = f"source {name!r}: {error}" if name else str(error)
    return PydanticCustomError("schedule", "{reason}", {"reason": reason})


def _check_cron(value: str | None, info: ValidationInfo) -> str | None:
    if value is not None:
        try:
            cron_trigger(value, "UTC")  # the zone changes when it fires, never whether it is valid
        except ValueError as error:
            raise _schedule_error(info, error) from None
    return value


def _check_time_zone(value: str | None, info: ValidationInfo) -> str | None:
    if value is None:
        return value
    if "cron" in info.data and info.data["cron"] is None:
        raise _schedule_error(info, ValueError("timezone is only used with cron: set cron too"))
    try:
        time_zone(value)
    except ValueError as error:
        raise _schedule_error(info, error) from None
    return value


# A source's poll schedule (ambient.core.schedule): polled at start-up, then on the crontab
# expression in the zone (default: the system's) instead of every interval_seconds
CronExpression = Annotated[str | None, AfterValidator(_check_cron)]
TimeZoneName = Annotated[str | None, AfterValidator(_check_time_zone)]


class MaildirSourceSettings(Section):
    """A local Maildir. The default one lives in the data dir and is owned by ambient."""

    type: Literal["maildir"] = "maildir"
    name: str = "inbox"
    path: Path | None = None  # None: <data dir>/Maildir
    owned: bool = True  # owned: handled messages move new/ -> cur/; not owned: left untouched
    # move_message without a folder (archive) moves to this Maildir++ folder (.Archive/) of an
    # owned Maildir; None or "": no archive folder
    archive_folder: str | None = "Archive"
    interval_seconds: float = Field(default=15.0, gt=0)
    cron: CronExpression = None  # e.g. "*/5 8-18 * * 1-5": polled then, not every interval
    timezone: TimeZoneName = None  # the cron's zone, e.g. "Europe/Berlin" (default: the system's)


class SpoolSourceSettings(Section):
    """A folder where any program drops .eml or .json items (atomic rename in)."""

    type: Literal["spool"] = "spool"
    name: str = "spool"
    path: Path | None = None  # None: <data dir>/spool
    interval_seconds: float = Field(default=10.0, gt=0)
    cron: CronExpression = None  # e.g. "*/5 8-18 * * 1-5": polled then, not every interval
    timezone: TimeZoneName = None  # the cron's zone, e.g. "Europe/Berlin" (default: the system's)


class SmtpSettings(Section):
    host: str
    port: int = 587
    security: Literal["tls", "starttls", "none"] = "starttls"
    username: str | None = None
    password_env: str | None = None  # name of the variable holding the password
    from_address: str | None = None
    timeout_seconds: float = 30.0


# An IMAP keyword (an atom; `$` first for the conventional ones, like "$Ambient", "$Receipt")
KEYWORD_PATTERN = r"^\$?[A-Za-z0-9_.-]+$"


class ImapSourceSettings(Section):
    type: Literal["imap"] = "imap"
    name: str
    host: str
    port: int = 993
    security: Literal["tls", "starttls", "none"] = "tls"
    username: str
    password_env: str  # name of the variable holding the password or app password
    address: str | None = None  # the account's own address (defaults to username)
    mailboxes: list[str] = Field(default_factory=lambda: ["INBOX"], min_length=1)
    # first contact with a mailbox: read its unseen mail, all of it, or only what arrives next
    initial_sync: Literal["unseen", "all", "new"] = "unseen"
    idle: bool = True
    idle_renew_seconds: float = Field(default=24 * 60, gt=0)
    interval_seconds: float = Field(default=300.0, gt=0)
    cron: CronExpression = None  # e.g. "*/5 8-18 * * 1-5": polled then, not every interval
    timezone: TimeZoneName = None  # the cron's zone, e.g. "Europe/Berlin" (default: the system's)
    timeout_seconds: float = 30.0
    # e.g. "$Ambient": a keyword added once the ledger holds the message (an IMAP atom)
    processed_keyword: str | None = Field(default=None, pattern=KEYWORD_PATTERN)
    mark_seen: bool = False
    sent_mailbox: str | None = "Sent"
    # move_message without a folder (archive) moves here ("[Gmail]/All Mail" on Gmail); None
    # or "": no archive folder
    archive_folder: str | None = "Archive"
    verify_certificates: bool = True
    ca_file: Path | None = None
    smtp: SmtpSettings | None = None


SourceSettings = Annotated[
    MaildirSourceSettings | SpoolSourceSettings | ImapSourceSettings, Field(discriminator="type")
]


def _default_sources() -> list[SourceSettings]:
    return [MaildirSourceSettings()]


class WorkerSettings(Section):
    concurrency: int = Field(default=4, ge=1, le=256)
    interval_seconds: float = Field(default=2.0, gt=0)
    lease_seconds: float = Field(default=300.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=30.0, ge=0)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    drain_seconds: float = Field(default=30.0, ge=0)
    poll_jitter_seconds: float = Field(default=2.0, ge=0)


class AgentSettings(Section):
    request_limit: int = Field(default=12, ge=1)
    total_tokens_limit: int | None = Field(default=60_000, ge=1)
    prompt_budget_tokens: int = Field(default=6_000, ge=500)
    body_max_chars: int = Field(default=8_000, ge=200)
    provider_retries: int = Field(default=3, ge=0)
    timeout_seconds: float = Field(default=120.0, gt=0)
    revise_interval_seconds: float = Field(default=5.0, gt=0)  # the feedback job
    # few-shot: up to this many of the user's own past decisions on similar mail go into the
    # prompt as examples (0: none), within the prompt budget, at most examples_max_tokens
    examples: int = Field(default=3, ge=0, le=20)
    examples_max_tokens: int = Field(default=900, ge=0)


class MemorySettings(Section):
    auto_apply: bool = False  # true: learned changes are committed without an approval
    inline_file_max_tokens: int = Field(default=1_500, ge=50)
    max_changed_lines: int = Field(default=20, ge=1)  # a learned diff: added + removed lines
    reflect_interval_seconds: float = Field(default=30.0, gt=0)
    reflection_budget_tokens: int = Field(default=4_000, ge=500)  # memory shown to reflection


class PolicySettings(Section):
    """Deterministic checks on every action (see ambient.approvals.policy)."""

    allowed_domains: list[str] = Field(default_factory=list)  # empty: any domain not denied
    denied_domains: list[str] = Field(default_factory=list)
    webhook_allowlist: list[str] = Field(default_factory=list)  # URL prefixes
    # move_message: the folders a message may be moved to, besides each source's archive_folder
    move_folders: list[str] = Field(default_factory=list)
    create_folders: bool = False  # create a missing folder of those (false: the move fails)
    max_body_chars: int = Field(default=20_000, ge=1)
    max_attachments: int = Field(default=0, ge=0)
    max_recipients: int = Field(default=10, ge=1)
    max_attachment_bytes: int = Field(default=10 * 1024 * 1024, ge=0)  # all attachments together
    # per rule: "block" refuses the action, "warn" needs an explicit acknowledgement; the
    # rules are the action kinds', so the gate checks the names (PolicyGate)
    rules: dict[str, Literal["block", "warn"]] = Field(default_factory=dict)


class AutonomySettings(Section):
    """Earned autonomy (opt-in): an action class that the user approved `streak` times in a
    row without an edit runs without asking, until the first rejection, edit or feedback."""

    enabled: bool = False  # nothing runs without a human until this is true
    kinds: list[str] = Field(default_factory=list)  # kinds that may earn it (empty: every kind
    # with a scope; a kind without one, such as memory_update, never does)
    streak: int = Field(default=20, ge=1)  # consecutive approvals without edits
    min_eval_agreement: float = Field(default=0.9, ge=0.0, le=1.0)  # where eval data exists


class ApprovalSettings(Section):
    expire_hours: float = Field(default=72.0, gt=0)


class OutboxSettings(Section):
    interval_seconds: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_seconds: float = Field(default=30.0, ge=0)
    backoff_max_seconds: float = Field(default=3600.0, ge=0)
    lease_seconds: float = Field(default=120.0, gt=0)
    batch_size: int = Field(default=20, ge=1)  # actions claimed per tick
    webhook_timeout_seconds: float = Field(default=15.0, gt=0)


class TracingSettings(Section):
    redact_patterns: list[str] = Field(default_factory=list)
    spool_max_rows: int = Field(default=100_000, ge=10)
    forward_interval_seconds: float = Field(default=5.0, gt=0)
    public_url: str | None = None  # where the TUI links traces (defaults to LANGFUSE_BASE_URL)
    environment: str | None = None  # Langfuse environment (lowercase, e.g. "production")
    # spans reach the spool this often (the SDK batches in memory until then; steps flush)
    spool_interval_seconds: float = Field(default=1.0, gt=0)
    forward_timeout_seconds: float = Field(default=10.0, gt=0)
    forward_backoff_seconds: float = Field(default=5.0, ge=0)
    forward_backoff_max_seconds: float = Field(default=300.0, ge=0)
    forward_batch_max_bytes: int = Field(default=2_000_000, ge=1_000)
    # any OTLP/HTTP backend besides Langfuse (MLflow, Phoenix, a collector): its base URL (the
    # traces path /v1/traces is added) or its full traces URL; OTEL_EXPORTER_OTLP_ENDPOINT and
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT override it, headers come from OTEL_EXPORTER_OTLP_HEADERS
    otlp_endpoint: str | None = None


class Settings(BaseSettings):
    """Everything ambient needs to know, built once by :func:`load_settings`."""

    model_config = SettingsConfigDict(
        env_prefix="AMBIENT_", env_nested_delimiter="__", extra="forbid", frozen=False
    )

    config_dir: Path
    data_dir: Path
    model: str = ""  # empty: the bundled offline model; "test": the demo rules (demo_model)
    fallback_model: str | None = None
    database_url: str | None = None  # None: SQLite in the data dir
    database_busy_timeout_seconds: float = Field(default=10.0, gt=0)  # SQLite: wait for a writer
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    user_email: str | None = None
    user_name: str | None = None
    seed_samples: bool = True
    sources: list[SourceSettings] = Field(default_factory=lambda: _default_sources())
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)
    memory: MemorySettings = Field(default_factory=MemorySettings)
    policy: PolicySettings = Field(default_factory=PolicySettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    autonomy: AutonomySettings = Field(default_factory=AutonomySettings)
    outbox: OutboxSettings = Field(default_factory=OutboxSettings)
    tracing: TracingSettings = Field(default_factory=TracingSettings)
    smtp: SmtpSettings | None = None  # for send_email/reply_email when the source has none
    mcp: McpServerList = Field(default_factory=list)  # [[mcp]] servers (ambient.core.mcp_settings)
    # pre-rules (ambient.core.rule_settings): [[rules]] first, first match wins; then the built-ins
    rules: RuleList = Field(default_factory=list)
    prerules: PreRuleSettings = Field(default_factory=PreRuleSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)  # ambient.core.alert_settings

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The loader feeds the merged environment (process env over .env) through init, with
        # the TOML file underneath; see load_settings.
        return (init_settings,)

    @property
    def config_file(self) -> Path:
        return self.config_dir / CONFIG_FILE_NAME

    @property
    def env_file(self) -> Path:
        return self.config_dir / ENV_FILE_NAME

    @property
    def database_path(self) -> Path:
        return self.data_dir / "ambient.db"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.database_path}"

    @property
    def maildir_path(self) -> Path:
        return self.data_dir / "Maildir"

    @property
    def memory_dir(self) -> Path:
        return self.data_dir / "memory"

    @property
    def notes_dir(self) -> Path:
        return self.data_dir / "notes"

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"

    @property
    def run_dir(self) -> Path:
        return self.data_dir / "run"

    def source_path(self, source: MaildirSourceSettings | SpoolSourceSettings) -> Path:
        if source.path is not None:
            return source.path.expanduser()
        return self.maildir_path if source.type == "maildir" else self.spool_dir

    @property
    def can_send_email(self) -> bool:
        """Whether approved emails have an account to go out through ([smtp] or a source's)."""
        return self.smtp is not None or any(
            getattr(source, "smtp", None) is not None for source in self.sources
        )

    @property
    def model_name(self) -> str:
        """The model as a user sees it in the status bar and in traces."""
        return self.model or "local (bundled SmolLM2-135M)"


# Variables that hold a secret whatever the config says: a name with one of these words as one
# of its `_`- or `-`-separated parts, anywhere (LANGFUSE_SECRET_KEY, OPENAI_API_KEY_2,
# GITHUB_TOKEN_RO, SMTP_PASSWORD_WORK, SMTP_AUTH, AZURE_CREDENTIALS, AWS_SESSION_TOKEN,
# X-Api-Key, …), or a part that ends in a password word (PGPASSWORD).
SECRET_WORDS = frozenset(
    {
        "PASS", "PASSWD", "PASSWORD", "PASSPHRASE", "PW", "PWD",
        "SECRET", "SECRETS", "TOKEN", "TOKENS", "KEY", "KEYS", "APIKEY",
        "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH", "PRIVATE", "COOKIE", "COOKIES", "SESSION",
    }
)  # fmt: skip
SECRET_WORD_ENDINGS = ("PASSWORD", "PASSWD", "PASSPHRASE", "APIKEY")
NAME_PARTS = re.compile(r"[_-]")
# ...but never one that names a place (PWD, OLDPWD, GITHUB_TOKEN_FILE, SSH_AUTH_SOCK hold paths),
# a public key (LANGFUSE_PUBLIC_KEY goes out in every request header by design), or a desktop
# session's ordinary variables (DESKTOP_SESSION=gnome must not redact the word "gnome")
NOT_SECRET_NAME = re.compile(
    r"^(OLD)?PWD$|[_-]PUBLIC[_-]KEY$"
    r"|[_-](FILE|PATH|DIR|HOME|SOCK|SOCKET|URL|HOST|PORT|ADDRESS|USER|USERNAME|TYPE|TIMEOUT)$"
    r"|^(DESKTOP_SESSION|SESSION_MANAGER|XDG_SESSION_(CLASS|DESKTOP))$",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """Whether a variable's (or a header's) name says it holds a secret (see SECRET_WORDS)."""
    if NOT_SECRET_NAME.search(name):
        return False
    parts = NAME_PARTS.split(name.upper())
    return any(part in SECRET_WORDS or part.endswith(SECRET_WORD_ENDINGS) for part in parts)


def configured_secret_names(settings: Settings) -> set[str]:
    """The variables the config names as holding secrets: every ``password_env``, and each
    MCP server's ``env_from`` and ``headers_from``."""
    accounts = [settings.smtp, *settings.sources]
    accounts += [getattr(source, "smtp", None) for source in settings.sources]
    names = {name for account in accounts if (name := getattr(account, "password_env", None))}
    return names.union(*(server.secret_names for server in settings.mcp))


def literal_secrets(headers: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """The secrets written into ambient.toml itself for one ``[[mcp]]`` server: every literal
    header value (a header carries a credential more often than not: Authorization, Cookie,
    X-Api-Key), and each literal env value whose name looks secret (:func:`is_secret_name`)."""
    return [*headers.values(), *(value for name, value in env.items() if is_secret_name(name))]


def literal_secret_values(settings: Settings) -> list[str]:
    """Every server's :func:`literal_secrets`: redacted from logs and traces like the values
    of :func:`secret_names`."""
    return [
        value for server in settings.mcp for value in literal_secrets(server.headers, server.env)
    ]


def secret_names(settings: Settings, secrets: Secrets) -> set[str]:
    """Variables whose values are redacted from logs and traces: the configured ones, and
    the set variables whose names say they are secrets. Nothing else: a path stays readable."""
    return configured_secret_names(settings) | {
        name for name in secrets.values if is_secret_name(name)
    }


@dataclass(frozen=True)
class Secrets:
    """Secret values looked up by variable name: process environment over `.env`."""

    values: Mapping[str, str] = field(repr=False)

    def get(self, name: str | None) -> str | None:
        if not name:
            return None
        value = self.values.get(name)
        return value if value else None

    def require(self, name: str, purpose: str) -> str:
        value = self.get(name)
        if value is None:
            raise ConfigError(f"{purpose}: the variable {name} is not set (environment or .env)")
        return value

    def __repr__(self) -> str:
        return f"Secrets({len(self.values)} variables)"


@dataclass(frozen=True)
class Directories:
    config_dir: Path
    data_dir: Path


def resolve_directories(environ: Mapping[str, str]) -> Directories:
    """XDG locations, overridden by AMBIENT_CONFIG_DIR / AMBIENT_DATA_DIR or AMBIENT_HOME."""
    home = environ.get("AMBIENT_HOME")
    if home:
        base = Path(home).expanduser()
        config_dir, data_dir = base, base
    else:
        user_home = Path(environ.get("HOME") or Path.home())
        xdg_config = Path(environ.get("XDG_CONFIG_HOME") or user_home / ".config")
        xdg_data = Path(environ.get("XDG_DATA_HOME") or user_home / ".local" / "share")
        config_dir, data_dir = xdg_config / "ambient", xdg_data / "ambient"
    if environ.get("AMBIENT_CONFIG_DIR"):
        config_dir = Path(environ["AMBIENT_CONFIG_DIR"]).expanduser()
    if environ.get("AMBIENT_DATA_DIR"):
        data_dir = Path(environ["AMBIENT_DATA_DIR"]).expanduser()
    return Directories(config_dir=config_dir.resolve(), data_dir=data_dir.resolve())


def read_environment(config_dir: Path, environ: Mapping[str, str]) -> dict[str, str]:
    """The process environment laid over the `.env` file in the config dir."""
    env_file = config_dir / ENV_FILE_NAME
    merged: dict[str, str] = {}
    if env_file.is_file():
        try:
            merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        except (OSError, UnicodeDecodeError) as error:
            raise ConfigError(f"{env_file}: cannot be read: {error}") from error
    merged.update(environ)
    return merged


def read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML: {error}") from error
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read: {error}") from error


_RESERVED_ENV = {"AMBIENT_HOME", "AMBIENT_CONFIG_DIR", "AMBIENT_DATA_DIR"}


def _is_structured(annotation: Any) -> bool:
    """A list, a table or a section: what an environment variable spells as JSON."""
    origin = get_origin(annotation)
    if origin in (list, tuple, set, frozenset, dict):
        return True
    if origin in (Union, UnionType, Annotated):
        return any(_is_structured(arg) for arg in get_args(annotation) if arg is not type(None))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _section(annotation: Any) -> type[BaseModel] | None:
    """The section a setting holds (``SmtpSettings`` for ``SmtpSettings | None``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if get_origin(annotation) in (Union, UnionType):
        for arg in get_args(annotation):
            if (section := _section(arg)) is not None:
                return section
    return None


def _expects_json(path: list[str]) -> bool:
    model: type[BaseModel] | None = Settings
    for depth, part in enumerate(path):
        field_info = model.model_fields.get(part) if model is not None else None
        if field_info is None:
            return False  # an unknown setting: validation names it
        if depth == len(path) - 1:
            return _is_structured(field_info.annotation)
        model = _section(field_info.annotation)
    return False


def _environment_value(name: str, path: list[str], value: str) -> Any:
    """The variable's value for the setting at ``path``: lists and tables are JSON."""
    if not _expects_json(path):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as error:  # the value is never echoed: it may hold a secret
        raise ConfigError(
            f'environment: {name}: expected JSON, a list like ["a", "b"] or a table '
            f'like {{"key": "value"}}; not valid JSON: {error.msg} at line {error.lineno} '
            f"column {error.colno}"
        ) from None


def _environment_overrides(environment: Mapping[str, str]) -> dict[str, Any]:
    """AMBIENT_FOO=1 -> {"foo": "1"}; AMBIENT_WORKER__CONCURRENCY=8 -> {"worker": {...}};
    lists and tables as JSON: AMBIENT_POLICY__DENIED_DOMAINS='["evil.example"]'."""
    overrides: dict[str, Any] = {}
    # a whole table first (AMBIENT_SMTP='{...}'), then the keys set one by one on top of it
    for name, value in sorted(environment.items(), key=lambda pair: pair[0].count("__")):
        if not name.startswith("AMBIENT_") or name in _RESERVED_ENV:
            continue
        path = name.removeprefix("AMBIENT_").lower().split("__")
        if path[0] not in Settings.model_fields:
            continue  # unrelated variables (AMBIENT_TEST_*, ...) are not errors
        target = overrides
        for part in path[:-1]:
            if not isinstance(target.get(part), dict):
                target[part] = {}
            target = target[part]
        target[path[-1]] = _environment_value(name, path, value)
    return overrides


def _merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def format_location(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in ("maildir", "imap", "spool") and text.endswith("]"):
            continue  # the discriminated-union tag pydantic inserts after sources[i]
        else:
            text += f".{part}" if text else str(part)
    return text


def describe_validation_error(origin: str, error: ValidationError) -> str:
    lines = []
    for detail in error.errors():
        where = format_location(tuple(detail["loc"]))
        message = detail["msg"]
        if detail["type"] == "extra_forbidden":
            message = "unknown setting"
        got = detail.get("input")
        suffix = "" if isinstance(got, dict | list) or got is None else f", got {got!r}"
        lines.append(f"{origin}: {where}: {message}{suffix}")
    return "\n".join(lines)


def load_settings(environ: Mapping[str, str] | None = None) -> tuple[Settings, Secrets]:
    """Build the one Settings object (and the secrets) for this process."""
    environ = dict(os.environ if environ is None else environ)
    directories = resolve_directories(environ)
    environment = read_environment(directories.config_dir, environ)
    config_file = directories.config_dir / CONFIG_FILE_NAME
    file_values = read_toml(config_file)
    for reserved in ("config_dir", "data_dir"):
        if reserved in file_values:
            raise ConfigError(
                f"{config_file}: {reserved}: set AMBIENT_HOME or AMBIENT_{reserved.upper()} instead"
            )
    try:
        Settings.model_validate(
            {**file_values, "config_dir": directories.config_dir, "data_dir": directories.data_dir}
        )
    except ValidationError as error:
        raise ConfigError(describe_validation_error(str(config_file), error)) from None
    values = _merge(file_values, _environment_overrides(environment))
    values.update(config_dir=directories.config_dir, data_dir=directories.data_dir)
    try:
        settings = Settings.model_validate(values)
    except ValidationError as error:
        raise ConfigError(describe_validation_error("environment", error)) from None
    names = [source.name for source in settings.sources]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"{config_file}: sources: duplicate name {duplicates[0]!r}")
    return settings, Secrets(environment)
