"""The schema of the service table (``[tool.xorb]`` in ``pyproject.toml``).

A table is checked as it loads (:func:`xorb_tools.core.services.load`), so a mistake in it
stops every task and nox session in one sentence naming the service and the key, not a
``KeyError`` or ``ValueError`` from wherever the value is first used: required keys, no
unknown ones, unique names, images and ports, ports 1-65535, groups that exist.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from xorb_tools.core.errors import XorbError

PYPROJECT_NAME = "pyproject.toml"


_NAME = r"^[a-z][a-z0-9-]*$"
IMAGE_PATTERN = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$"


_SHAPES = {
    "name": "a lowercase name (letters, digits, dashes)",
    "package": "a Python package name",
    "image": "a lowercase image repository (e.g. xorb/api)",
    "image-prefix": "a lowercase image repository prefix",
    "health-path": "a path starting with /",
}


class Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(pattern=_NAME)
    package: str = Field(pattern=r"^[a-z_][a-z0-9_]*$")
    group: str = Field(min_length=1)
    image: str = Field(pattern=IMAGE_PATTERN)
    port: int = Field(ge=1, le=65535)
    health_path: str = Field(alias="health-path", pattern=r"^/")
    budget_mb: int = Field(alias="budget-mb", gt=0)


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    registry: str = Field("localhost:5000", min_length=1)
    image_prefix: str = Field("xorb", alias="image-prefix", pattern=IMAGE_PATTERN)
    base_image: str = Field(alias="base-image", min_length=1)
    local_base_image: str = Field(alias="local-base-image", min_length=1)
    environments: list[str] = Field(min_length=1)
    targets: list[str] = Field(min_length=1)
    services: list[Row] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Table:
        for what, values in (
            ("environment", self.environments),
            ("target", self.targets),
            ("service name", [r.name for r in self.services]),
            ("image", [r.image for r in self.services]),
            ("port", [str(r.port) for r in self.services]),
        ):
            seen: set[str] = set()
            for value in values:
                if value in seen:
                    raise ValueError(f"the {what} {value!r} is listed twice")
                seen.add(value)
        return self


def _where(loc: Sequence[int | str], rows: object) -> str:
    """``('services', 1, 'port')`` as "service 'orchestrator', key 'port'"."""
    if len(loc) >= 2 and loc[0] == "services" and isinstance(loc[1], int):
        row = rows[loc[1]] if isinstance(rows, list) and loc[1] < len(rows) else None
        name = row.get("name") if isinstance(row, dict) else None
        who = f"service {name!r}" if isinstance(name, str) else f"service #{loc[1] + 1}"
        return f"{who}, key {loc[2]!r}" if len(loc) > 2 else who
    return f"key {'.'.join(str(part) for part in loc)!r}"


def validate(xorb: dict[str, object], groups: Iterable[str]) -> Table:
    """The ``[tool.xorb]`` table, checked, or one :class:`XorbError` naming the key."""
    try:
        table = Table.model_validate(xorb)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "it is missing"
        elif first["type"] == "string_pattern_mismatch":
            message = f"{first['input']!r} is not {_SHAPES.get(str(first['loc'][-1]), 'valid')}"
        where = f" at {_where(first['loc'], xorb.get('services'))}" if first["loc"] else ""
        raise XorbError(
            f"The service table ([tool.xorb] in {PYPROJECT_NAME}) is wrong{where}: {message}."
        ) from None
    known = set(groups)
    for row in table.services:
        if known and row.group not in known:
            raise XorbError(
                f"The service table ([tool.xorb] in {PYPROJECT_NAME}) is wrong at service "
                f"{row.name!r}, key 'group': {row.group!r} is not a [dependency-groups] "
                f"group (choose from {', '.join(sorted(known))})."
            )
    return table
