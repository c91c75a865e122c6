"""Command groups whose commands are imported only when their name is invoked, so start-up stays quick.

A group lists its commands from a table of name -> (module, attribute, short help): ``--help``
prints the short help from the table without importing a command's module, and invoking a
command imports its module alone (with whatever that command needs: pydantic, urllib3, rich).
tests/unit/cli/test_startup.py checks every table entry against the command it names.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import typer
import typer.core
import typer.main
import typer.models


@dataclass(frozen=True)
class LazyCommand:
    """Where a command lives: ``attribute`` of ``module`` is a command function or a ``typer.Typer`` group."""

    module: str
    attribute: str
    help: str  # what ``--help`` lists: the first paragraph of the command's own help

    def target(self) -> Any:
        return getattr(_import(self.module), self.attribute)


_freeze_imports = False


def freeze_imports() -> None:
    """From now on, keep the garbage collector out of a command module's import (see :func:`_import`).

    Only for the ``eksd-adopt`` process itself (its entry point calls this): in a longer-lived
    process, such as tests invoking the app, freezing would keep that process's garbage forever.
    """
    global _freeze_imports
    _freeze_imports = True


def _import(name: str) -> Any:
    if not _freeze_imports or name in sys.modules:
        return importlib.import_module(name)
    # A command's module brings in tens of thousands of objects that live until the process ends
    # (modules, classes, pydantic validators). The cyclic collector would walk them again and again
    # while they load and once more at exit; paused while they load and then frozen (moved where it
    # no longer looks), about 0.04 s less of a mirror re-run (docs/benchmarks.md). What it would
    # have freed is a few hundred objects of import-time garbage.
    gc.disable()
    try:
        return importlib.import_module(name)
    finally:
        gc.freeze()
        gc.enable()


class _Commands(MutableMapping[str, Any]):
    """A group's commands: every name of the table, each built on first access (click's ``commands``)."""

    def __init__(self, group: LazyGroup, table: Mapping[str, LazyCommand], built: MutableMapping[str, Any]) -> None:
        self._group = group
        self._table = table
        self._built = dict(built)

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in self._table:
                raise KeyError(name)
            self._built[name] = self._group.build(name, self._table[name].target())
        return self._built[name]

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from self._table
        yield from (name for name in self._built if name not in self._table)

    def __len__(self) -> int:
        return len(set(self._table) | set(self._built))


class LazyGroup(typer.core.TyperGroup):
    """A typer group whose ``commands`` come from the class's ``table`` (see :func:`lazy_group`)."""

    table: Mapping[str, LazyCommand] = {}

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        self.commands = _Commands(self, self.table, self.commands)

    def build(self, name: str, target: Any) -> Any:
        """The click command for a command function or a typer app, as ``add_typer``/``command`` would make it."""
        if isinstance(target, typer.Typer):
            # A sub-app without a group class of its own lists its commands as this group does.
            own = target.info.cls
            cls = own if isinstance(own, type) else LazyGroup
            return typer.main.get_group_from_info(
                typer.models.TyperInfo(target, name=name, cls=cls),
                pretty_exceptions_short=target.pretty_exceptions_short,
                suggest_commands=self.suggest_commands,
                rich_markup_mode=self.rich_markup_mode,
            )
        return typer.main.get_command_from_info(
            typer.models.CommandInfo(name=name, callback=target),
            pretty_exceptions_short=True,
            rich_markup_mode=self.rich_markup_mode,
        )

    def list_commands(self, ctx: Any) -> list[str]:
        return list(self.commands)  # the names alone: listing them imports nothing

    def format_commands(self, ctx: Any, formatter: Any) -> None:
        # The table's short help, so that `--help` imports no command module. Whole first paragraphs,
        # not click's first sentence: what the help listed when typer rendered it with rich.
        rows = [(name, self._short_help(name)) for name in self.commands]
        rows = [(name, text) for name, text in rows if text is not None]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def _short_help(self, name: str) -> str | None:
        if name in self.table:
            return self.table[name].help
        command = self.commands[name]
        if command.hidden:
            return None
        return first_paragraph(command.short_help or command.help or "")


def first_paragraph(text: str) -> str:
    """A help text's first paragraph on one line (what a command list shows of it)."""
    return " ".join(text.strip().split("\n\n", 1)[0].split())


def lazy_group(commands: Mapping[str, LazyCommand]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class over ``commands`` (name -> where it lives), for ``typer.Typer(cls=...)``."""
    return type("LazyGroup", (LazyGroup,), {"table": dict(commands)})
