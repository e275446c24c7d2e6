"""Test doubles for privguard's plug-in points (design.md: they ship with the package, so a
deployment's own tests can use them too).

They keep what they are given in memory only; never use them in production.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RecordingNotifier", "RecordingTelephony", "Sent"]

_CODE = re.compile(r"(?<![0-9])[0-9]{6}(?![0-9])")


@dataclass(frozen=True)
class Sent:
    channel: str
    destination: str
    message: str


@dataclass
class RecordingNotifier:
    """A :class:`privguard.notify.Notifier` that records each (channel, destination, message).

    Set ``fail`` to make every send raise, to test what happens when delivery fails.
    """

    name: str = "recording"
    sent: list[Sent] = field(default_factory=list)
    subject_ids: list[uuid.UUID | None] = field(default_factory=list)
    fail: Exception | None = None

    def send(
        self,
        channel: str,
        destination: str,
        message: str,
        *,
        subject_id: uuid.UUID | None = None,
    ) -> None:
        if self.fail is not None:
            raise self.fail
        self.sent.append(Sent(channel, destination, message))
        self.subject_ids.append(subject_id)

    def messages_to(self, destination: str) -> list[str]:
        return [s.message for s in self.sent if s.destination == destination]

    def last_code(self) -> str:
        """The 6-digit code in the latest message (fails the test if there is none)."""
        if not self.sent:
            raise AssertionError("no message was sent")
        found = _CODE.search(self.sent[-1].message)
        if found is None:
            raise AssertionError("the latest message holds no 6-digit code")
        return found.group()


@dataclass
class RecordingTelephony:
    """A :class:`privguard.sharing.relay_phone.Telephony` that records each call and SMS
    (with the destination, in memory) and returns ids ``call-1``, ``sms-1``, ….

    Set ``fail`` to make every request raise, to test what happens when the provider fails.
    """

    name: str = "recording"
    calls: list[Any] = field(default_factory=list)  # CallRequest
    messages: list[Any] = field(default_factory=list)  # SmsRequest
    fail: Exception | None = None

    def connect_call(self, call: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.calls.append(call)
        return f"call-{len(self.calls)}"

    def send_sms(self, sms: Any) -> str:
        if self.fail is not None:
            raise self.fail
        self.messages.append(sms)
        return f"sms-{len(self.messages)}"
