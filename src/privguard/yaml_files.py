"""Parsing YAML (the policy, the catalog, the notice, the rule files) and reading the YAML files
operators point privguard at (PRIVGUARD_RIGHTS_DEADLINES, PRIVGUARD_ANOMALY_CONFIG,
PRIVGUARD_INCIDENT_CONFIG): one error, naming the file and what it was meant to be, whether it
cannot be read or is not YAML, so a typo stops start-up clearly."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

# PyYAML's libyaml binding when the wheel has it (it does on the usual platforms): the same safe
# schema about ten times faster. Every runtime parses the policy and the catalog, and the pure-
# Python parser took about half of building one (tests build one per test).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """``yaml.safe_load(text)``, with the C parser when available; raises ``yaml.YAMLError``."""
    return yaml.load(text, Loader=_LOADER)


def read_yaml_file(path: Path | str, what: str, error: Callable[[str], Exception]) -> Any:
    """The document at ``path``; ``error("<what> <path>: …")`` raised when it cannot be read or
    parsed."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"{what} {source}: cannot read ({exc.strerror or exc})") from None
    try:
        return parse_yaml(text)
    except yaml.YAMLError as exc:
        raise error(f"{what} {source}: not valid YAML ({exc})") from None
