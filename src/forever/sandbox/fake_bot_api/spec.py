"""The machine-readable Bot API specification bundled with the fake Bot API.

The JSON lives next to this module (``spec/api.min.json``, MIT, see ``spec/LICENSE``) so the
test double never depends on files outside the package at run time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

_SUBTYPE_LINE = re.compile(r"^\s*-\s*([A-Z][A-Za-z0-9]+)\s*$", re.MULTILINE)
_DISCRIMINATOR = re.compile(r"must be ([a-z_0-9]+)$")

# Field names that identify the concrete subtype of an abstract type ("type" almost everywhere,
# "source" for PassportElementError).
_DISCRIMINATOR_FIELDS = ("type", "source")


@dataclass(frozen=True)
class FieldSpec:
    name: str
    types: tuple[str, ...]
    required: bool
    description: str


@dataclass(frozen=True)
class ObjectSpec:
    """A Bot API method or type: both are a named list of fields."""

    name: str
    href: str
    description: str
    fields: tuple[FieldSpec, ...]
    by_name: dict[str, FieldSpec] = field(repr=False, compare=False, hash=False)

    def field(self, name: str) -> FieldSpec | None:
        return self.by_name.get(name)


@dataclass(frozen=True)
class ApiSpec:
    version: str
    release_date: str
    methods: dict[str, ObjectSpec]
    types: dict[str, ObjectSpec]
    # Lower-cased method name -> canonical name: Telegram method names are case-insensitive.
    methods_lower: dict[str, str]
    # Abstract type -> concrete subtypes, parsed from the "It should be one of - X" lists.
    subtypes: dict[str, tuple[str, ...]]
    # Concrete subtype -> (discriminator field, required value), e.g. ("type", "chat").
    discriminators: dict[str, tuple[str, str]]

    def find_method(self, name: str) -> ObjectSpec | None:
        canonical = self.methods_lower.get(name.lower())
        return self.methods[canonical] if canonical else None

    def is_type(self, name: str) -> bool:
        return name in self.types

    @property
    def update_types(self) -> tuple[str, ...]:
        """Every optional field of Update, i.e. every value allowed in allowed_updates."""
        return tuple(f.name for f in self.types["Update"].fields if f.name != "update_id")


def _object(raw: dict[str, Any]) -> ObjectSpec:
    fields = tuple(
        FieldSpec(
            name=f["name"],
            types=tuple(f["types"]),
            required=bool(f["required"]),
            description=f.get("description", ""),
        )
        for f in raw.get("fields", [])
    )
    return ObjectSpec(
        name=raw["name"],
        href=raw.get("href", ""),
        description="\n".join(raw.get("description", [])),
        fields=fields,
        by_name={f.name: f for f in fields},
    )


def parse_spec(raw: dict[str, Any]) -> ApiSpec:
    methods = {name: _object(m) for name, m in raw["methods"].items()}
    types = {name: _object(t) for name, t in raw["types"].items()}
    subtypes: dict[str, tuple[str, ...]] = {}
    for name, spec in types.items():
        if spec.fields:
            continue
        found = tuple(s for s in _SUBTYPE_LINE.findall(spec.description) if s in types)
        if found:
            subtypes[name] = found
    discriminators: dict[str, tuple[str, str]] = {}
    for children in subtypes.values():
        for child in children:
            for field_name in _DISCRIMINATOR_FIELDS:
                f = types[child].field(field_name)
                if f is None:
                    continue
                match = _DISCRIMINATOR.search(f.description)
                if match:
                    discriminators[child] = (field_name, match.group(1))
                    break
    return ApiSpec(
        version=raw["version"],
        release_date=raw["release_date"],
        methods=methods,
        types=types,
        methods_lower={name.lower(): name for name in methods},
        subtypes=subtypes,
        discriminators=discriminators,
    )


@cache
def load_spec() -> ApiSpec:
    """Load the bundled specification once per process."""
    text = resources.files(__package__).joinpath("spec", "api.min.json").read_text("utf-8")
    return parse_spec(json.loads(text))
