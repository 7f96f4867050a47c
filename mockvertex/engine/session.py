"""The state a running mock keeps: config, profiles, scenarios, journal and handler errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mockvertex.config import ServerConfig
from mockvertex.contract.profiles import ProfileRegistry
from mockvertex.engine.journal import Journal
from mockvertex.engine.scenario import ScenarioBook, load_builtin, load_scenario

__all__ = ["MockState"]


@dataclass
class MockState:
    """Everything a running mock knows: its config, profiles, scenarios and journal."""

    config: ServerConfig
    profiles: ProfileRegistry
    book: ScenarioBook
    journal: Journal = field(init=False)
    #: Exceptions that escaped a handler: a bug in the mock, re-raised by
    #: ``MockVertexServer.check()``.
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.journal = Journal(self.config.journal_limit)

    @classmethod
    def from_config(cls, config: ServerConfig) -> MockState:
        """The state a fresh mock starts with: built-in plus configured profiles and scenarios."""
        profiles = ProfileRegistry.builtin().with_files(*config.profile_files)
        state = cls(config=config, profiles=profiles, book=ScenarioBook())
        state.reset()
        return state

    def reset(self) -> None:
        """Forget the journal and every scenario added at run time; reload the configured ones."""
        self.journal.clear()
        self.book.clear()
        for scenario in _configured_scenarios(self.config):
            self.book.add(scenario)


def _configured_scenarios(config: ServerConfig) -> list[Any]:
    loaded = [load_builtin(name) for name in config.builtin_scenarios]
    loaded.extend(load_scenario(path) for path in config.scenario_files)
    return loaded
