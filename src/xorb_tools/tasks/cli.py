"""How the program reads a command line and how every task ends.

Service names as plain words: ``inv security-scan api orchestrator worker``.

Invoke reads a bare word after a task as the next task's name, so the guide's command line
stopped with "No idea what 'api' is!". :func:`install` makes the running program rewrite the
words after a task that has a ``--service`` flag (once its positional arguments are filled)
into ``--service NAME`` before invoke parses them; a word that names no service stops with
one sentence listing the known ones. Flags, their values and everything after ``--`` pass
through untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from invoke.collection import Collection
from invoke.exceptions import Exit, UnexpectedExit
from invoke.parser.context import ParserContext
from invoke.program import Program

from xorb_tools.core import errors

SERVICE_FLAG = "--service"
_installed: list[Callable[[Program], None]] = []


def rewrite(
    words: Sequence[str],
    contexts: Mapping[str, ParserContext],
    services: Sequence[str] | Callable[[], Sequence[str]],
) -> list[str]:
    """``words`` with service words after a service-taking task turned into ``--service``.

    ``services`` may be a callable: it is called only when a word needs it, so ``--list``
    and ``--help`` never load the service table.
    """
    known: list[Sequence[str]] = []

    def names() -> Sequence[str]:
        if not known:
            known.append(services() if callable(services) else services)
        return known[0]

    out: list[str] = []
    current: ParserContext | None = None
    positional_left = 0
    expecting_value = False
    for index, word in enumerate(words):
        if expecting_value:
            out.append(word)
            expecting_value = False
        elif word == "--":
            return out + list(words[index:])
        elif word.startswith("-"):
            out.append(word)
            flag = current.flags.get(word) if current is not None else None
            expecting_value = flag is not None and bool(flag.takes_value)
        elif word in contexts:
            current = contexts[word]
            positional_left = len(current.positional_args)
            out.append(word)
        elif positional_left:
            positional_left -= 1
            out.append(word)
        elif current is not None and SERVICE_FLAG in current.flags:
            unknown = [n for n in word.split(",") if n and n not in names()]
            if unknown:
                raise Exit(
                    f"error: {current.name} has no service {unknown[0]!r}: choose from "
                    f"{', '.join(names())} (or no name: all of them).",
                    code=1,
                )
            out += [SERVICE_FLAG, word]
        else:
            out.append(word)
    return out


def contexts(collection: Collection) -> dict[str, ParserContext]:
    """Every task's parser context by name and alias, leaving the tasks as they were:
    invoke pops a task's flag help while it builds a context, so a second build (invoke's
    own, after this one) would print ``--help`` without it; the help is put back."""
    tasks = [collection[name] for name in collection.task_names]
    helps = [dict(t.help) for t in tasks]
    try:
        contexts = collection.to_contexts(ignore_unknown_help=True)
    finally:
        for t, help_ in zip(tasks, helps, strict=True):
            t.help = help_
    return {str(name): ctx for ctx in contexts for name in (ctx.name, *ctx.aliases)}


def install(services: Callable[[], Sequence[str]]) -> None:
    """Make the running program read service words and end every task in one sentence.

    Before invoke parses the task words, service names become ``--service`` flags
    (:func:`rewrite`); ``services`` gives the known names. Before any task runs, the
    service table must load (a broken one stops every task with its one sentence, as it
    stops ``nox``); ``--list`` and ``--help`` still work. Whatever a task raises ends as
    ``error: <one line>`` and exit 1 (:func:`xorb_tools.core.errors.describe`), 130 on Ctrl-C;
    ``XORB_DEBUG=1`` or invoke's ``--debug`` shows the traceback instead. Idempotent.
    """
    if _installed:
        return
    parse_original, execute_original = Program.parse_tasks, Program.execute

    def known() -> Sequence[str]:
        try:
            return list(services())
        except errors.XorbError as exc:  # a broken table: no word can be checked against it
            raise Exit(f"error: {exc}", code=1) from None

    def parse_tasks(self: Program) -> None:
        self.core.unparsed = rewrite(self.core.unparsed, contexts(self.collection), known)
        parse_original(self)

    def execute(self: Program) -> None:
        debug = errors.debugging() or bool(self.args.debug.value)
        try:
            services()
            execute_original(self)
        except (Exit, UnexpectedExit):
            raise
        except KeyboardInterrupt:
            raise Exit("interrupted", code=130) from None
        except Exception as exc:
            if debug:
                raise
            raise Exit(f"error: {errors.describe(exc)}", code=1) from None

    Program.parse_tasks = parse_tasks  # type: ignore[method-assign]
    Program.execute = execute  # type: ignore[method-assign]
    _installed.append(parse_original)
