"""Read a configuration file and report every problem as ``FILE:LINE path.to[0].field: message``.

PyYAML's composed node tree keeps the line of every key and item; pydantic's error locations
and the reference checks' locations are walked down that tree to find the line to report.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from tocsin.policy.config import schema
from tocsin.policy.config.references import ITEM_IDS, Loc, format_loc, reference_problems
from tocsin.policy.config.schema import Config, did_you_mean


@dataclass(frozen=True)
class Problem:
    """One problem in a configuration file, with where it is."""

    file: str
    line: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where} {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    """The file is not a valid configuration; ``problems`` lists each problem in file order."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def config_load(path: str | Path) -> Config:
    """Read and validate a configuration file; raise ConfigError (or OSError) when it is bad."""
    return config_parse(Path(path).read_text(encoding="utf-8"), filename=str(path))


def config_parse(text: str, *, filename: str = "<config>") -> Config:
    """Validate configuration text; raise ConfigError listing every problem."""
    root, data = _compose(text, filename)
    problems = _duplicate_keys(root, (), filename) if root is not None else []
    if data is None:
        data = {}
    if not isinstance(data, dict):
        message = "the file must be a mapping of sections (people:, teams:, services: ...)"
        raise ConfigError([Problem(filename, _line(root), "", message)])
    salvage, errors = _validate(data)
    for error in errors:
        problems.append(_problem(root, error["loc"], _message(error), filename))
    references = reference_problems(
        salvage.config,
        unchecked=salvage.failed,
        extra=salvage.extra,
        describe=lambda loc: f"line {_locate(root, salvage.original(loc))[0]}",
    )
    for loc, message in references:
        problems.append(_problem(root, salvage.original(loc), message, filename))
    if problems:
        raise ConfigError(sorted(problems, key=lambda problem: problem.line))
    return salvage.config


def _compose(text: str, filename: str) -> tuple[yaml.Node | None, Any]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None  # type: ignore[no-untyped-call]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        message = f"YAML syntax error: {_yaml_message(exc)}"
        raise ConfigError([Problem(filename, line, "", message)]) from None
    except (yaml.YAMLError, ValueError) as exc:  # e.g. a date such as 2026-02-30
        raise ConfigError([Problem(filename, 1, "", f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()  # type: ignore[no-untyped-call]
    return root, data


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark
    column = f" (column {mark.column + 1})" if mark else ""
    context = f", {exc.context}" if exc.context else ""
    return f"{exc.problem}{context}{column}"


@dataclass
class _Salvage:
    """What is left to check across sections after some items failed validation."""

    config: Config
    failed: set[str] = field(default_factory=set)  # sections not checked at all
    kept: dict[str, list[int]] = field(default_factory=dict)  # valid item -> its index in file
    extra: dict[str, set[str]] = field(default_factory=dict)  # names of the dropped items

    def original(self, loc: Loc) -> Loc:
        """Map a location in the salvaged config to the location in the file."""
        kept = self.kept.get(str(loc[0])) if loc else None
        if kept is None or len(loc) < 2 or not isinstance(loc[1], int):
            return loc
        return (loc[0], kept[loc[1]], *loc[2:])


def _validate(data: dict[str, Any]) -> tuple[_Salvage, list[ErrorDetails]]:
    """Validate; on errors, keep the valid sections and items so references can still be checked."""
    try:
        return _Salvage(Config.model_validate(data)), []
    except ValidationError as exc:
        errors = exc.errors()
    bad: dict[str, set[int]] = {}
    for loc in (error["loc"] for error in errors if error["loc"]):
        item = loc[1] if len(loc) > 1 and str(loc[0]) in ITEM_IDS else None
        bad.setdefault(str(loc[0]), set()).add(item if isinstance(item, int) else -1)
    return _salvage(data, bad), errors


def _salvage(data: dict[str, Any], bad: dict[str, set[int]]) -> _Salvage:
    failed = {section for section, items in bad.items() if -1 in items}
    salvage = _Salvage(Config(), failed)
    valid = {name: value for name, value in data.items() if name not in failed}
    for section, items in bad.items():
        if section in failed:
            continue
        salvage.kept[section] = [i for i in range(len(data[section])) if i not in items]
        valid[section] = [data[section][i] for i in salvage.kept[section]]
        salvage.extra[section] = _names(data[section], items, ITEM_IDS[section])
    try:
        salvage.config = Config.model_validate(valid)
    except ValidationError:  # not expected: sections validate independently
        salvage.failed |= set(data)
    return salvage


def _names(items: list[Any], indexes: set[int], attr: str) -> set[str]:
    values = (items[i].get(attr) for i in indexes if isinstance(items[i], dict))
    return {
        value.lower() if attr == "email" else value for value in values if isinstance(value, str)
    }


def _message(error: ErrorDetails) -> str:
    kind, loc, value = error["type"], error["loc"], error["input"]
    if kind == "extra_forbidden":
        name = str(loc[-1])
        what = "section" if len(loc) == 1 else "field"
        return f"unknown {what} {name!r}{did_you_mean(name, _field_names())}"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"invalid value {_short(value)}: expected {error.get('ctx', {}).get('expected')}"
    if kind in {"model_type", "model_attributes_type", "dict_type"}:
        return f"expected a mapping (key: value), not {_short(value)}"
    if kind == "list_type":
        return f"expected a list, not {_short(value)}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{error['msg']}, not {_short(value)}"
    return error["msg"]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _field_names() -> set[str]:
    names: set[str] = set()
    for model in vars(schema).values():
        if isinstance(model, type) and issubclass(model, BaseModel):
            names.update(field.alias or name for name, field in model.model_fields.items())
    return names


def _problem(root: yaml.Node | None, loc: Loc, message: str, filename: str) -> Problem:
    line, path = _locate(root, loc)
    return Problem(filename, line, format_loc(path), message)


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _locate(root: yaml.Node | None, loc: Loc) -> tuple[int, Loc]:
    """Walk ``loc`` down the node tree: the line of its deepest node, and the path in the file.

    Parts that are not in the file (a union member's tag such as ``every``) are left out; a
    missing field is reported on its parent's line.
    """
    node, line, path = root, _line(root), []
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, yaml.MappingNode):
            entry = _entry(node, str(part))
            if entry is None:
                if last:
                    path.append(part)
                continue
            key, node = entry
            line = _line(key)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                continue
            node = node.value[part]
            line = _line(node)
        else:
            continue
        path.append(part)
    return line, tuple(path)


def _entry(node: yaml.MappingNode, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _duplicate_keys(node: yaml.Node, loc: Loc, filename: str) -> list[Problem]:
    """Report keys written twice in one mapping (PyYAML would silently keep the last)."""
    problems: list[Problem] = []
    if isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _duplicate_keys(item, (*loc, index), filename)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in seen and key != "<<":
                message = f"duplicate key {key!r} (first at line {seen[key]})"
                problems.append(
                    Problem(filename, _line(key_node), format_loc((*loc, key)), message)
                )
            seen.setdefault(key, _line(key_node))
            problems += _duplicate_keys(value_node, (*loc, key), filename)
    return problems


def to_json(data: Any) -> Any:
    """Return ``data`` with dates and times as ISO strings, as stored in JSON columns."""
    return json.loads(json.dumps(data, default=_iso))


def _iso(value: object) -> str:
    if isinstance(value, date | datetime):
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in the configuration")
