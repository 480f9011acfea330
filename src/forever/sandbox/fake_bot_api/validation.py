"""Decode and type-check request parameters against the Bot API specification.

Telegram's server receives every top-level parameter as a string (query string, urlencoded or
multipart form, or a JSON body whose values it stringifies), so top-level values are decoded
from text according to the field types. Objects and arrays arrive JSON-encoded and are checked
recursively against ``types``. Unlike Telegram, unknown parameter and field names are refused:
a typo must fail a test instead of being silently ignored.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ApiError, bad_request
from .spec import ApiSpec, FieldSpec, ObjectSpec

_INTEGER = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})
_KEEP_VALID_UP_TO = 4096  # characters of a JSON parameter remembered as valid
_KEEP_VALID_COUNT = 4096  # distinct ones remembered
_UNION_SEPARATOR = re.compile(r",\s*|\s+and\s+|\s+or\s+")
_ATTACH = "attach://"
_SCALARS = frozenset({"Integer", "Float", "String", "Boolean", "True"})

# Deprecated parameters that Telegram still honours although they left the documentation;
# aiogram keeps them as optional arguments. Keyed by the documented parameter whose presence
# shows the method supports them.
_DEPRECATED_PARAMETERS: dict[str, dict[str, str]] = {
    "reply_parameters": {
        "reply_to_message_id": "Integer",
        "allow_sending_without_reply": "Boolean",
    },
    "link_preview_options": {"disable_web_page_preview": "Boolean"},
}


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart/form-data request."""

    part_name: str
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class FileRef:
    """The value of an "InputFile or String" parameter: an upload, or a file_id/URL."""

    upload: UploadedFile | None = None
    reference: str | None = None


class _FieldError(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path
        self.message = message

    @property
    def depth(self) -> int:
        return self.path.count(".") + self.path.count("[")


@functools.cache  # the spec's expressions are a few hundred; split on every value checked
def split_type(expr: str) -> tuple[str, ...]:
    """Split a spec type expression such as "A, B and C" into its alternatives."""
    return tuple(part for part in _UNION_SEPARATOR.split(expr.strip()) if part)


class RequestValidator:
    def __init__(self, spec: ApiSpec) -> None:
        self.spec = spec
        self._allowed: dict[str, dict[str, FieldSpec]] = {}
        # (type, JSON text) pairs already checked and found valid: a bot sends the same
        # keyboard or options again and again, and checking is deterministic.
        self._valid_json: set[tuple[str, str]] = set()

    # -- top level -------------------------------------------------------------------------

    def decode(
        self,
        method: ObjectSpec,
        params: Mapping[str, str],
        uploads: Mapping[str, UploadedFile],
    ) -> dict[str, Any]:
        """Return the typed parameters of a call, or raise ApiError 400."""
        allowed = self._allowed_for(method)

        for name in params:
            if name not in allowed:
                raise bad_request(
                    f'unknown parameter "{name}" for method {method.name} (the fake Bot API '
                    f"refuses parameters that are not in the Bot API {self.spec.version} spec)"
                )
        direct_uploads = {k: v for k, v in uploads.items() if k in allowed}

        decoded: dict[str, Any] = {}
        for name, spec_field in allowed.items():
            if name in direct_uploads:
                if not any(t == "InputFile" for t in spec_field.types):
                    raise bad_request(f'parameter "{name}" can\'t be a file upload')
                decoded[name] = self._file_value(spec_field, direct_uploads[name])
                continue
            raw = params.get(name)
            if raw is None or (raw == "" and "String" not in spec_field.types):
                if spec_field.required:
                    raise _missing(method.name, name)
                continue
            decoded[name] = self._decode_top(method, spec_field, raw, uploads)
        return decoded

    def _file_value(self, spec_field: FieldSpec, upload: UploadedFile) -> Any:
        if "String" in spec_field.types:
            return FileRef(upload=upload)
        return upload

    def _decode_top(
        self,
        method: ObjectSpec,
        spec_field: FieldSpec,
        raw: str,
        uploads: Mapping[str, UploadedFile],
    ) -> Any:
        name = spec_field.name
        errors: list[_FieldError] = []
        for type_expr in spec_field.types:
            try:
                return self._decode_text(name, type_expr, raw, spec_field, uploads)
            except _FieldError as error:
                errors.append(error)
        best = max(errors, key=lambda e: e.depth)
        if best.path == name:
            raise bad_request(best.message)
        raise bad_request(f"can't parse {name}: {best.message} (at {best.path})")

    def _decode_text(
        self,
        name: str,
        type_expr: str,
        raw: str,
        spec_field: FieldSpec,
        uploads: Mapping[str, UploadedFile],
    ) -> Any:
        expected = " or ".join(spec_field.types)
        if type_expr == "Integer":
            if not _INTEGER.match(raw.strip()):
                raise _FieldError(name, f'parameter "{name}" must be {expected}, got {raw!r}')
            return int(raw)
        if type_expr == "Float":
            if not _FLOAT.match(raw.strip()):
                raise _FieldError(name, f'parameter "{name}" must be {expected}, got {raw!r}')
            return float(raw)
        if type_expr in ("Boolean", "True"):
            lowered = raw.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE and type_expr == "Boolean":
                return False
            raise _FieldError(name, f'parameter "{name}" must be {expected}, got {raw!r}')
        if type_expr == "String":
            if raw.startswith(_ATTACH) and "InputFile" in spec_field.types:
                return FileRef(upload=self._attachment(name, raw, uploads))
            return FileRef(reference=raw) if "InputFile" in spec_field.types else raw
        if type_expr == "InputFile":
            if not raw.startswith(_ATTACH):
                raise _FieldError(name, f'parameter "{name}" must be a file upload')
            upload = self._attachment(name, raw, uploads)
            return FileRef(upload=upload) if "String" in spec_field.types else upload
        try:
            value = json.loads(raw)
        except ValueError as error:
            raise _FieldError(name, f"can't parse {name} JSON object") from error
        key = (type_expr, raw)
        if key in self._valid_json:
            return value
        checked = self.check(value, type_expr, name)
        if len(raw) <= _KEEP_VALID_UP_TO and len(self._valid_json) < _KEEP_VALID_COUNT:
            self._valid_json.add(key)
        return checked

    def _allowed_for(self, method: ObjectSpec) -> dict[str, FieldSpec]:
        """The method's parameters and the deprecated ones Telegram still takes (made once
        per method)."""
        allowed = self._allowed.get(method.name)
        if allowed is None:
            allowed = dict(method.by_name)
            for anchor, extra in _DEPRECATED_PARAMETERS.items():
                if anchor in allowed:
                    for name, type_name in extra.items():
                        allowed[name] = FieldSpec(name, (type_name,), False, "deprecated")
            self._allowed[method.name] = allowed
        return allowed

    @staticmethod
    def _attachment(name: str, raw: str, uploads: Mapping[str, UploadedFile]) -> UploadedFile:
        key = raw[len(_ATTACH) :]
        if key not in uploads:
            raise _FieldError(
                name, f'parameter "{name}" refers to {raw} but no such file part was uploaded'
            )
        return uploads[key]

    # -- nested JSON -----------------------------------------------------------------------

    def check(self, value: Any, type_expr: str, path: str) -> Any:
        """Check a decoded JSON value against a spec type expression; return it unchanged."""
        if type_expr.startswith("Array of "):
            if not isinstance(value, list):
                raise _FieldError(path, f"{_leaf(path)} must be an Array")
            item_expr = type_expr[len("Array of ") :]
            return [self.check(item, item_expr, f"{path}[{i}]") for i, item in enumerate(value)]
        alternatives = split_type(type_expr)
        if len(alternatives) > 1:
            return self._check_union(value, alternatives, path)
        return self._check_single(value, type_expr, path)

    def _check_union(self, value: Any, alternatives: tuple[str, ...], path: str) -> Any:
        errors: list[_FieldError] = []
        for alternative in alternatives:
            try:
                return self.check(value, alternative, path)
            except _FieldError as error:
                errors.append(error)
        raise max(errors, key=lambda e: e.depth)

    def _check_single(self, value: Any, type_name: str, path: str) -> Any:
        if type_name in _SCALARS:
            if not _scalar_ok(value, type_name):
                raise _FieldError(path, f"{_leaf(path)} must be {type_name}, got {_kind(value)}")
            return value
        if type_name == "InputFile":
            # Inside JSON objects files are referenced as "attach://<part>" strings.
            if not isinstance(value, str):
                raise _FieldError(path, f"{_leaf(path)} must be a String")
            return value
        subtypes = self.spec.subtypes.get(type_name)
        if subtypes:
            return self._check_abstract(value, type_name, subtypes, path)
        spec_type = self.spec.types.get(type_name)
        if spec_type is None:
            raise _FieldError(path, f"unknown type {type_name}")
        return self._check_object(value, spec_type, path)

    def _check_abstract(
        self, value: Any, type_name: str, subtypes: tuple[str, ...], path: str
    ) -> Any:
        if not isinstance(value, dict):
            raise _FieldError(path, f"{_leaf(path)} must be a {type_name} object")
        candidates = list(subtypes)
        discriminated = [s for s in subtypes if s in self.spec.discriminators]
        if discriminated:
            field_name = self.spec.discriminators[discriminated[0]][0]
            if field_name not in value:
                raise _FieldError(path, f'{type_name} must have the field "{field_name}"')
            candidates = [
                s for s in discriminated if self.spec.discriminators[s][1] == value[field_name]
            ]
            if not candidates:
                raise _FieldError(
                    f"{path}.{field_name}",
                    f'unsupported {type_name} {field_name} "{value[field_name]}"',
                )
        return self._check_union(value, tuple(candidates), path)

    def _check_object(self, value: Any, spec_type: ObjectSpec, path: str) -> Any:
        if not isinstance(value, dict):
            raise _FieldError(path, f"{_leaf(path)} must be a {spec_type.name} object")
        for key in value:
            if key not in spec_type.by_name:
                raise _FieldError(
                    f"{path}.{key}", f'unknown field "{key}" in {spec_type.name} object'
                )
        for spec_field in spec_type.fields:
            field_path = f"{path}.{spec_field.name}"
            if spec_field.name not in value or value[spec_field.name] is None:
                if spec_field.required:
                    raise _FieldError(
                        field_path,
                        f'{spec_type.name} object must have the field "{spec_field.name}"',
                    )
                continue
            errors: list[_FieldError] = []
            for type_expr in spec_field.types:
                try:
                    self.check(value[spec_field.name], type_expr, field_path)
                    break
                except _FieldError as error:
                    errors.append(error)
            else:
                raise max(errors, key=lambda e: e.depth)
        discriminator = self.spec.discriminators.get(spec_type.name)
        if discriminator and value.get(discriminator[0]) != discriminator[1]:
            raise _FieldError(
                f"{path}.{discriminator[0]}",
                f'{spec_type.name}.{discriminator[0]} must be "{discriminator[1]}"',
            )
        return value

    def check_type(self, value: Any, type_expr: str, path: str = "value") -> None:
        """Public entry point (used by the double's own tests to check what it produces)."""
        try:
            self.check(value, type_expr, path)
        except _FieldError as error:
            raise ApiError(400, f"{error.message} (at {error.path})") from error


def _missing(method: str, name: str) -> ApiError:
    if name == "chat_id":
        return bad_request("chat_id is empty")
    if name == "text":
        return bad_request("message text is empty")
    return bad_request(f'parameter "{name}" is required by {method}')


def _scalar_ok(value: Any, type_name: str) -> bool:
    if type_name == "Integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if type_name == "Float":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if type_name == "String":
        return isinstance(value, str)
    if type_name == "Boolean":
        return isinstance(value, bool)
    return value is True  # "True"


def _leaf(path: str) -> str:
    return f'field "{path}"'


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Float"
    if isinstance(value, str):
        return "String"
    if isinstance(value, list):
        return "Array"
    return "Object"
