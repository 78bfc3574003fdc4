"""Options declared once: each field of a settings dataclass is a library parameter, a command-line
flag and a row of the README's flag table, with its type, default, choices and one-line help.

A script's parser is generated from its settings (`add_options`), the library takes the settings
objects, and a test checks the README's tables against `markdown_rows`. Nothing here imports
TensorFlow or Keras.
"""

import argparse
import re
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, field, fields, is_dataclass
from typing import Any


def option(
    default: Any = None,
    help: str = "",
    *,
    flag: str = "",
    short: str = "",
    metavar: str = "",
    choices: tuple = (),
    parse: Callable[[str], object] | None = None,
    required: bool = False,
    exclusive: str = "",
    switch: bool = False,
    negatable: bool = False,
    const: Any = None,
    many: bool = False,
    default_text: str = "",
) -> Any:
    """A settings field that is also a command-line option.

    Args:
        default: The value when the option is not given. Defaults to None.
        help: One line saying what it does (the parser's help and the README's "meaning").
        flag: The flag, when it is not the field's name with dashes (``lr`` is ``--lr`` either way).
        short: A one-letter alias such as ``"-d"``.
        metavar: The value's name in the help.
        choices: The allowed values of a closed choice.
        parse: Turns the text given into the value; raises ValueError saying what it expected.
            ``int`` and ``float`` are argparse's own.
        required: The option must be given.
        exclusive: Options sharing this name exclude one another, and one of them is required.
        switch: A flag without a value that turns the option on.
        negatable: A flag with a ``--no-`` form (``--export``, ``--no-export``); None when neither is given.
        const: The value when the flag is given without one (an optional value, e.g. ``--overfit-check [N]``).
        many: The flag takes one or more values, a list (``--image a.jpg photos/``).
        default_text: The default as the README and the help say it, when it depends on other options.
    """
    metadata = {
        "help": help,
        "flag": flag,
        "short": short,
        "metavar": metavar,
        "choices": choices,
        "parse": parse,
        "required": required,
        "exclusive": exclusive,
        "switch": switch,
        "negatable": negatable,
        "const": const,
        "many": many,
        "default_text": default_text,
    }
    return field(default=default, metadata=metadata)


def flag(declared: Field | str) -> str:
    """The command-line flag of a settings field (or field name): ``max_results`` is ``--max-results``."""
    if isinstance(declared, str):
        return "--" + declared.replace("_", "-")
    return declared.metadata.get("flag") or flag(declared.name)


def declared_options(settings: Iterable[type]) -> list[Field]:
    """Every option of ``settings`` (settings dataclasses, or dataclasses grouping them), in declaration order."""
    declared = []
    for each in settings:
        for item in fields(each):
            if "help" in item.metadata:
                declared.append(item)
            elif is_dataclass(item.type):
                declared += declared_options([item.type])
    return declared


def default_of(declared: Field) -> object:
    """A declared option's default (None where it has none)."""
    return None if declared.default is MISSING else declared.default


def default_text(declared: Field) -> str:
    """A declared option's default as the README says it: ``(required)``, ``off``, ``none``, ``32`` or ```auto```."""
    meta, default = declared.metadata, default_of(declared)
    if meta["default_text"]:
        return meta["default_text"]
    if meta["required"]:
        return "(required)"
    if meta["switch"]:
        return "off"
    if default is None or default == "":
        return "none"
    if isinstance(default, str):
        return f"`{default}`"
    return f"{default:g}" if isinstance(default, float) else str(default)


def _argparse_type(parse: Callable[[str], object]) -> Callable[[str], object]:
    """Turn a parser's ValueError into the ArgumentTypeError argparse reports as it is."""

    def checked(value: str) -> object:
        try:
            return parse(value)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    checked.__name__ = getattr(parse, "__name__", "value")
    return checked


def add_options(parser: argparse.ArgumentParser, settings: Iterable[type]) -> argparse.ArgumentParser:
    """Add every option of ``settings`` to ``parser``, each dest being its field's name; returns ``parser``."""
    groups: dict[str, argparse._MutuallyExclusiveGroup] = {}
    for declared in declared_options(settings):
        meta = declared.metadata
        target = parser
        if meta["exclusive"]:
            if meta["exclusive"] not in groups:
                groups[meta["exclusive"]] = parser.add_mutually_exclusive_group(required=True)
            target = groups[meta["exclusive"]]
        names = [meta["short"], flag(declared)] if meta["short"] else [flag(declared)]
        keywords: dict[str, Any] = {"dest": declared.name, "default": default_of(declared), "help": meta["help"].replace("`", "")}
        if meta["switch"]:
            keywords["action"] = "store_true"
        elif meta["negatable"]:
            keywords["action"] = argparse.BooleanOptionalAction
        if meta["required"]:
            keywords["required"] = True
        if meta["metavar"]:
            keywords["metavar"] = meta["metavar"]
        if meta["choices"]:
            keywords["choices"] = meta["choices"]
        if meta["const"] is not None:
            keywords.update(nargs="?", const=meta["const"])
        if meta["many"]:
            keywords["nargs"] = "+"
        if meta["parse"] is not None:
            keywords["type"] = meta["parse"] if meta["parse"] in (int, float) else _argparse_type(meta["parse"])
        if not (meta["required"] or meta["exclusive"]) and (meta["default_text"] or default_of(declared) not in (None, "", False)):
            keywords["help"] += f" (default: {default_text(declared).replace('`', '').replace('%', '%%')})"
        target.add_argument(*names, **keywords)
    return parser


def build(settings: type, values: dict[str, Any], *, strict: bool = True) -> Any:
    """An instance of ``settings`` from option values by name, a grouping dataclass's groups filled in turn.

    Raises:
        TypeError: With ``strict``, for a name no option of ``settings`` has.
    """
    if strict:
        unknown = sorted(set(values) - {item.name for item in declared_options([settings])})
        if unknown:
            raise TypeError(f"{settings.__name__} has no option {', '.join(unknown)}")
    arguments = {}
    for item in fields(settings):
        if "help" in item.metadata:
            if item.name in values:
                arguments[item.name] = values[item.name]
        elif is_dataclass(item.type):
            arguments[item.name] = build(item.type, values, strict=False)
    return settings(**arguments)


def flat(settings: Any) -> dict[str, Any]:
    """Every option's value of a settings object, by name (the groups of a grouping dataclass flattened)."""
    values = {}
    for item in fields(settings):
        value = getattr(settings, item.name)
        values.update(flat(value) if is_dataclass(value) else {item.name: value})
    return values


def markdown_rows(settings: Iterable[type]) -> list[str]:
    """The README's flag table rows of ``settings``: ``| flags | default | meaning |``."""
    rows = []
    for declared in declared_options(settings):
        meta = declared.metadata
        names = [meta["short"], flag(declared)] if meta["short"] else [flag(declared)]
        if meta["negatable"]:
            names.append("--no-" + flag(declared)[2:])
        shown = ", ".join(f"`{name}`" for name in names)
        if meta["const"] is not None:
            shown = shown[:-1] + f" [{meta['metavar'] or 'N'}]`"
        rows.append(f"| {shown} | {default_text(declared)} | {meta['help']} |")
    return rows


def as_flags(message: str, settings: Iterable[type]) -> str:
    """``message`` with each ```name``` of an option of ``settings`` written as its flag (```epochs``` as
    ``--epochs``): the library names its parameters, a command line its flags."""
    flags = {declared.name: flag(declared) for declared in declared_options(settings)}
    return re.sub(r"`(\w+)`", lambda match: flags.get(match.group(1), match.group(0)), message)
