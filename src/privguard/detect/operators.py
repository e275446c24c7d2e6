"""Redaction operators: what a finding is replaced with.

* :class:`Replace`: a type tag, ``<PHONE_NUMBER>`` (the default; nothing of the value is left).
* :class:`Mask`: ``*`` for each character except a configurable suffix (``*******5678``); at
  least half of the value is always hidden, and phone numbers keep at most 4 digits, so 6 or
  more are hidden as GB/T 41833-2022 asks of waybills.
* :class:`Hash`: a keyed hash, ``<PHONE_NUMBER:3f9a…>``: equal values give equal tags (so
  analysts can still count and join), but without the key nobody can test a guess. The key is
  derived from the keyring's index root exactly like a blind-index key (crypto/blind_index.py),
  in a namespace of its own per entity type, so these tags never equal the vault's indexes.
* :class:`Tokenise`: the value is stored encrypted in a :class:`TokenVault` and replaced with its
  token, ``<PHONE_NUMBER:tk_…>``; only the gate turns a token back into the value, for an actor
  and purpose the policy allows (detect/service.py).

Operators are pure apart from what they are given (a digest function, a token vault).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from privguard.detect.rules import Finding


@runtime_checkable
class Operator(Protocol):
    name: str

    def apply(self, value: str, finding: Finding) -> str: ...


class TokenVault(Protocol):
    """Where :class:`Tokenise` keeps values: returns a token that stands for ``value``."""

    def tokenise(self, entity_type: str, value: str) -> str: ...


class Digester(Protocol):
    """A keyed hash by namespace, such as :class:`privguard.crypto.blind_index.BlindIndexer`."""

    def digest(self, field: str, normalised_value: str) -> bytes: ...


_SEPARATORS = re.compile(r"[\s\-·•]+")
_NUMERIC_TYPES = frozenset(
    {"PHONE_NUMBER", "CN_RESIDENT_ID", "BANK_CARD", "QQ_NUMBER", "PASSPORT", "CN_USCC"}
)


def normalise_value(entity_type: str, value: str) -> str:
    """One spelling per value, so that 138 1234 5678, １３８… (full width) and 13812345678 hash
    and tokenise alike: NFKC, separators removed from numbers, e-mail lower-cased, IDs in
    upper case."""
    text = unicodedata.normalize("NFKC", value).strip()
    if entity_type in _NUMERIC_TYPES or entity_type == "CN_LICENSE_PLATE":
        text = _SEPARATORS.sub("", text).upper()
    elif entity_type in ("EMAIL_ADDRESS", "WECHAT_ID") or entity_type == "IP_ADDRESS":
        text = text.lower()
    return text


@dataclass(frozen=True)
class Replace:
    template: str = "<{entity_type}>"
    name: str = "replace"

    def apply(self, value: str, finding: Finding) -> str:
        return self.template.format(entity_type=finding.entity_type)


@dataclass(frozen=True)
class Mask:
    keep_suffix: int = 4
    char: str = "*"
    name: str = "mask"

    def __post_init__(self) -> None:
        if self.keep_suffix < 0:
            raise ValueError("keep_suffix must be 0 or more")
        if len(self.char) != 1:
            raise ValueError("the mask character must be one character")

    def apply(self, value: str, finding: Finding) -> str:
        keep = min(self.keep_suffix, len(value) // 2)
        if keep == 0:
            return self.char * len(value)
        return self.char * (len(value) - keep) + value[-keep:]


@dataclass(frozen=True)
class Hash:
    digester: Digester
    chars: int = 16  # hex characters shown (64 bits: collisions negligible within a dataset)
    name: str = "hash"

    def apply(self, value: str, finding: Finding) -> str:
        digest = self.digester.digest(
            f"detect:{finding.entity_type}", normalise_value(finding.entity_type, value)
        )
        return f"<{finding.entity_type}:{digest.hex()[: self.chars]}>"


@dataclass(frozen=True)
class Tokenise:
    vault: TokenVault
    name: str = "tokenise"

    def apply(self, value: str, finding: Finding) -> str:
        return f"<{finding.entity_type}:{self.vault.tokenise(finding.entity_type, value)}>"


TOKEN_IN_TEXT = re.compile(r"<([A-Z_]+):(tk_[0-9a-f]{32})>")


def redact_with(
    text: str,
    findings: Sequence[Finding],
    default: Operator,
    operators: Mapping[str, Operator] | None = None,
) -> str:
    """``text`` with each finding replaced by its operator's output. Findings must not overlap
    (what :meth:`Detector.scan` returns)."""
    if not findings:
        return text
    parts: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < pos:
            raise ValueError("findings overlap; pass the output of scan()")
        op = operators.get(f.entity_type, default) if operators else default
        parts.append(text[pos : f.start])
        parts.append(op.apply(text[f.start : f.end], f))
        pos = f.end
    parts.append(text[pos:])
    return "".join(parts)


def operator_by_name(
    name: str,
    *,
    keep_suffix: int = 4,
    digester: Digester | None = None,
    vault: TokenVault | None = None,
) -> Operator:
    """``replace``, ``mask``, ``hash`` (needs ``digester``) or ``tokenise`` (needs ``vault``)."""
    if name == "replace":
        return Replace()
    if name == "mask":
        return Mask(keep_suffix=keep_suffix)
    if name == "hash":
        if digester is None:
            raise ValueError("the hash operator needs the keyring's index key")
        return Hash(digester)
    if name == "tokenise":
        if vault is None:
            raise ValueError("the tokenise operator needs a token vault")
        return Tokenise(vault)
    raise ValueError(f"unknown operator {name!r}: use replace, mask, hash or tokenise")
