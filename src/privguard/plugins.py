"""Named plug-ins: the one registry behind key providers, notifiers and telephony providers.

A deployment picks a plug-in by name in a setting (``PRIVGUARD_KEY_PROVIDER=kms``). The name
is looked up among the factories registered in this process (the built-in ones, or a
deployment's ``register_…`` call at start-up), then among the entry points packages declare
under the plug-in's group, so every worker process finds an installed plug-in without code
changes. An unknown name is an error that lists every name known.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Generic, TypeVar

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    """Factories of one kind of plug-in, by name."""

    def __init__(
        self, group: str, setting: str, kind: str, error: Callable[[str], Exception]
    ) -> None:
        self.group = group  # the entry-point group packages declare plug-ins under
        self.setting = setting  # the environment variable that names one, for messages
        self.kind = kind  # "key provider", for messages
        self._error = error
        self._factories: dict[str, F] = {}

    def register(self, name: str, factory: F) -> None:
        self._factories[name] = factory

    def factory(self, name: str) -> F:
        found = self._factories.get(name)
        if found is not None:
            return found
        for entry in entry_points(group=self.group, name=name):
            loaded: F = entry.load()
            self.register(name, loaded)
            return loaded
        known = {*self._factories, *(e.name for e in entry_points(group=self.group))}
        raise self._error(
            f"unknown {self.kind} {name!r} ({self.setting}); known: {', '.join(sorted(known))}"
        )
