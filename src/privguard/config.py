"""Typed settings read from ``PRIVGUARD_*`` environment variables.

Settings are built on demand by :func:`load_settings` (never at import), so tests and the CLI can
point one process at several data directories without reloading modules.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a deployment can set. Names are stable: they are documented in docs/."""

    model_config = SettingsConfigDict(env_prefix="PRIVGUARD_", extra="ignore")

    home: Path = Field(
        default=Path(".privguard"),
        description="Data directory: embedded database, master key file, demo state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL. Default: an embedded SQLite file inside `home`.",
    )
    key_provider: str = Field(
        default="file",
        description="Key provider by name: file (0600 keyring file), env (PRIVGUARD_KEYRING), "
        "or a plug-in registered under the privguard.key_providers entry-point group.",
    )
    key_file: Path | None = Field(default=None, description="Keyring file; default home/master.key")
    keyring: str | None = Field(
        default=None,
        description="The keyring JSON itself, for the `env` key provider (never logged).",
        repr=False,
    )
    catalog_path: Path | None = Field(
        default=None, description="A catalog YAML replacing the one shipped in the package."
    )
    policy_path: Path | None = Field(
        default=None, description="A policy YAML replacing the one shipped in the package."
    )
    notice_path: Path | None = Field(
        default=None,
        description="A privacy-notice config YAML (controller, officer, rights, recipients) "
        "replacing the one shipped in the package (docs/notices.md).",
    )
    rights_deadlines: Path | None = Field(
        default=None,
        description="A YAML overriding the data-subject request deadlines per jurisdiction "
        "(docs/rights-deadlines.md); unset keeps the defaults (CN 15 working days, EU one "
        "month, US-CA 45 days).",
    )
    default_jurisdiction: str = Field(
        default="CN",
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="Jurisdiction whose deadlines apply to a request that names none "
        "(CN, EU, US-CA or one added in the deadlines YAML).",
    )
    anomaly_config: Path | None = Field(
        default=None,
        description="A YAML overriding the anomaly-detection thresholds shipped in "
        "privguard/cases/anomalies.yaml (docs/anomalies-and-incidents.md).",
    )
    incident_config: Path | None = Field(
        default=None,
        description="A YAML overriding the incident notification deadlines and texts shipped in "
        "privguard/cases/incidents.yaml (CN authority 4 hours, EU 72 hours).",
    )
    default_region: str = Field(default="CN", description="Region for phone numbers without +CC.")
    db_pool_size: int = Field(default=5, ge=1, description="PostgreSQL connections kept open.")
    db_max_overflow: int = Field(default=10, ge=0, description="Extra connections under load.")
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, description="Requests larger than this get 413.")
    rate_limit_per_minute: int = Field(
        default=6000,
        ge=0,
        description="Requests a minute per API key and server process (token bucket, 429 with "
        "Retry-After beyond it); 0 turns the limit off (docs/operations.md).",
    )
    rate_limit_burst: int = Field(
        default=1000,
        ge=1,
        description="Requests an API key may send at once before the rate applies.",
    )
    log_level: str = Field(default="INFO", description="Server log level (JSON lines on stderr).")
    log_format: Literal["json", "text"] = Field(
        default="json", description="json (one object a line) or text; PI is redacted in both."
    )
    access_log: bool = Field(default=True, description="Log one line per HTTP request.")
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    consent_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long consent answers for services (may_use, may_contact) are cached in "
        "a process; changes made elsewhere show within this time. The access gate never caches.",
    )
    api_threads: int = Field(
        default=4,
        ge=0,
        description="Worker threads per server process for the hot API routes (reads, lookups, "
        "consent checks, registrations). Few is faster on few cores; raise it when the database "
        "is far away and round trips are long. 0 runs them on the event loop, one at a time per "
        "process: serve with more processes than cores then (api/threads.py, "
        "docs/operations.md).",
    )
    auth_cache_seconds: float = Field(
        default=10.0,
        ge=0,
        description="On PostgreSQL, how long a server process may answer an API key it verified "
        "without reading the database again. Any change to a key or an actor empties every "
        "process's cache at once (LISTEN/NOTIFY); this is only the bound should a notification "
        "be lost. 0 turns the cache off. SQLite never caches (docs/operations.md).",
    )
    sequencer_interval: float = Field(
        default=1.0,
        ge=0,
        description="Seconds between runs of the access-log sequencer inside each server "
        "process (integrates new entries into the Merkle tree and signs a tree head); "
        "0 turns it off (then run `privguard audit sequence` yourself).",
    )
    verification_ttl_seconds: int = Field(
        default=600,
        ge=60,
        le=3600,
        description="How long an identity-verification code stays valid "
        "(docs/identity-verification.md).",
    )
    notifier: str = Field(
        default="outbox",
        description="How verification codes are sent: outbox (kept in the database as keyed "
        "hashes, for development), smtp, or a plug-in registered under the "
        "privguard.notifiers entry-point group.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server for the smtp notifier.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP submission port.")
    smtp_from: str | None = Field(default=None, description="Sender address of notifications.")
    smtp_starttls: bool = Field(
        default=True, description="Upgrade the SMTP connection with STARTTLS before sending."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if required.")
    smtp_password: str | None = Field(
        default=None, description="SMTP password (never logged).", repr=False
    )
    smtp_subject: str = Field(
        default="Your verification code / 您的验证码",
        description="Subject line of notification e-mails.",
    )
    smtp_timeout_seconds: float = Field(default=10.0, gt=0, description="SMTP socket timeout.")
    # Reports and the self-check (docs/reports.md)
    public_url: str | None = Field(
        default=None,
        description="The address clients reach the API at, e.g. https://privacy.example.com "
        "(privguard serves plain HTTP; TLS is a reverse proxy's job). `privguard doctor` "
        "checks it is https.",
    )
    require_pia: bool = Field(
        default=False,
        description="Refuse to serve a policy in which a processing activity that needs an "
        "impact assessment (PIPL Art. 55) has no signed one linked (`pia:`).",
    )
    # Contact relays (docs/relays.md)
    relay_domain: str = Field(
        default="privguard.invalid",
        description="Relay mail addresses are o-<random>@relay.<this domain>; the relay "
        "subdomain's MX must reach `privguard relay mail-serve`.",
    )
    relay_numbers: list[str] = Field(
        default=["+8695000"],
        description="Platform numbers (E.164) that relay calls and SMS, each with 10,000 "
        "4-digit extensions; JSON list in the environment.",
    )
    relay_alias_days: int = Field(
        default=15,
        ge=0,
        le=365,
        description="How long an order's relay alias keeps working after delivery or after "
        "the order's last after-sales case closes.",
    )
    relay_number_quarantine_days: int = Field(
        default=30,
        ge=0,
        description="How long a number and extension stay unused after their alias stopped "
        "working, before another order gets them.",
    )
    relay_telephony: str = Field(
        default="disabled",
        description="Telephony provider for relayed calls and SMS: disabled, or a plug-in "
        "registered under the privguard.telephony entry-point group.",
    )
    relay_smtp_host: str | None = Field(
        default=None, description="Upstream SMTP server that delivers relayed mail."
    )
    relay_smtp_port: int = Field(default=25, ge=1, le=65535, description="Its port.")
    relay_smtp_starttls: bool = Field(
        default=True, description="Upgrade the upstream connection with STARTTLS."
    )
    relay_smtp_username: str | None = Field(default=None, description="Upstream SMTP login.")
    relay_smtp_password: str | None = Field(
        default=None, description="Upstream SMTP password (never logged).", repr=False
    )

    @property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'privguard.db'}"

    @property
    def resolved_key_file(self) -> Path:
        return (self.key_file or self.resolved_home / "master.key").expanduser().resolve()


def load_settings(**overrides: object) -> Settings:
    """Read the environment now; keyword overrides win (used by CLI options and tests)."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
