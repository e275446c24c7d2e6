"""The plug-in registry behind key providers, notifiers and telephony: registered names first,
then packages' entry points (loaded once), and an error naming every known name otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import privguard.plugins as plugins
from privguard.plugins import Registry


class Unknown(Exception):
    pass


def fake_entry_points(found: dict[str, object], loads: list[str]):  # type: ignore[no-untyped-def]
    def entry_points(*, group: str, name: str | None = None) -> list[SimpleNamespace]:
        assert group == "privguard.things"
        def load(n: str) -> object:
            loads.append(n)
            return found[n]
        return [SimpleNamespace(name=n, load=lambda n=n: load(n))
                for n in found if name is None or n == name]
    return entry_points


def test_registered_then_entry_points_then_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    loads: list[str] = []
    from_package = object()
    monkeypatch.setattr(plugins, "entry_points",
                        fake_entry_points({"pkg": from_package}, loads))
    registry: Registry = Registry("privguard.things", "PRIVGUARD_THING", "thing", Unknown)
    mine = object()
    registry.register("mine", mine)  # type: ignore[arg-type]
    assert registry.factory("mine") is mine
    assert registry.factory("pkg") is from_package
    assert registry.factory("pkg") is from_package
    assert loads == ["pkg"]  # loaded once, then remembered
    with pytest.raises(Unknown) as raised:
        registry.factory("nope")
    assert str(raised.value) == "unknown thing 'nope' (PRIVGUARD_THING); known: mine, pkg"


def test_the_shipped_registries_name_their_setting() -> None:
    from privguard.crypto.errors import KeyringError
    from privguard.crypto.providers import provider_factory
    from privguard.notify import NotifierError, notifier_factory
    from privguard.sharing.relay_phone import TelephonyUnavailable, telephony_factory

    with pytest.raises(KeyringError, match=r"PRIVGUARD_KEY_PROVIDER.*env, file"):
        provider_factory("hsm-that-is-not-installed")
    with pytest.raises(NotifierError, match="PRIVGUARD_NOTIFIER"):
        notifier_factory("pigeon")
    with pytest.raises(TelephonyUnavailable, match="PRIVGUARD_RELAY_TELEPHONY"):
        telephony_factory("tin-can")
