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
    key_provider: Literal["file", "env"] = Field(
        default="file",
        description="Where the master keyring lives: a 0600 file, or PRIVGUARD_KEYRING.",
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
    default_region: str = Field(default="CN", description="Region for phone numbers without +CC.")
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = Field(default=1_048_576, description="Requests larger than this get 413.")

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
