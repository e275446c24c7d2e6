"""Unsubscribing by reply or by link (Consumer Rights Protection Law Art. 29; PIPL Art. 15:
withdrawal as easy as consent; the MIIT rules for commercial SMS use "TD"/"退订").

Pure parts here: recognising an unsubscribe reply, and the link payload. The endpoints in
consent/api.py record each as a withdrawal in the ledger.
"""

from __future__ import annotations

import unicodedata
import uuid

# Replies that mean "stop", compared after NFKC (full-width letters), trimming and case folding.
KEYWORDS = frozenset({"td", "t", "退订", "退", "取消订阅", "取消", "stop", "unsubscribe", "n"})


def is_unsubscribe_reply(text: str) -> bool:
    normal = unicodedata.normalize("NFKC", text).strip().strip("。.!！").casefold()
    return normal in KEYWORDS


def link_payload(subject_id: uuid.UUID, channel: str) -> str:
    return f"unsubscribe|{subject_id}|{channel}"


def parse_link_payload(payload: str) -> tuple[uuid.UUID, str] | None:
    parts = payload.split("|")
    if len(parts) != 3 or parts[0] != "unsubscribe":
        return None
    try:
        return uuid.UUID(parts[1]), parts[2]
    except ValueError:
        return None
