"""Read Bot API parameters from an HTTP body the way Telegram's server does.

Accepted: query string, application/json, application/x-www-form-urlencoded and
multipart/form-data. Every top-level value becomes a string (JSON bodies are stringified like
the real server does); file parts are returned separately.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, ClientResponse, MultipartReader, web
from aiohttp.multipart import MultipartResponseWrapper

from .errors import bad_request
from .validation import UploadedFile

Params = dict[str, str]
Uploads = dict[str, UploadedFile]


def _stringify(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def params_from_json(body: Any) -> Params:
    if not isinstance(body, dict):
        raise bad_request("the JSON body must be an object")
    params: Params = {}
    for key, value in body.items():
        text = _stringify(value)
        if text is not None:
            params[str(key)] = text
    return params


async def _read_multipart(
    reader: MultipartReader | MultipartResponseWrapper,
) -> tuple[Params, Uploads]:
    params: Params = {}
    uploads: Uploads = {}
    while True:
        part = await reader.next()
        if part is None:
            break
        if not isinstance(part, BodyPartReader) or part.name is None:
            raise bad_request("nested multipart bodies are not supported")
        data = await part.read()
        if part.filename is not None:
            uploads[part.name] = UploadedFile(
                part_name=part.name,
                filename=part.filename,
                content_type=part.headers.get("Content-Type", "application/octet-stream"),
                data=bytes(data),
            )
        else:
            params.setdefault(part.name, data.decode(part.get_charset(default="utf-8")))
    return params, uploads


async def read_request(request: web.Request) -> tuple[Params, Uploads]:
    params: Params = dict(request.query)
    uploads: Uploads = {}
    if request.method != "POST" or not request.can_read_body:
        return params, uploads
    content_type = request.content_type
    if content_type == "application/json":
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError as error:
            raise bad_request("can't parse JSON body") from error
        params.update(params_from_json(body))
    elif content_type == "multipart/form-data":
        form, uploads = await _read_multipart(await request.multipart())
        params.update(form)
    elif content_type in ("application/x-www-form-urlencoded", ""):
        posted = await request.post()
        params.update({k: v for k, v in posted.items() if isinstance(v, str)})
    else:
        raise bad_request(f"unsupported Content-Type {content_type}")
    return params, uploads


async def read_webhook_reply(response: ClientResponse) -> tuple[str, Params, Uploads] | None:
    """A webhook answer may carry one Bot API call ("method" + parameters); return it."""
    content_type = response.content_type
    params: Params
    uploads: Uploads = {}
    if content_type == "application/json":
        text = await response.text()
        if not text.strip():
            return None
        try:
            body = json.loads(text)
        except ValueError:
            return None
        if not isinstance(body, dict):
            return None
        params = params_from_json(body)
    elif content_type == "multipart/form-data":
        params, uploads = await _read_multipart(MultipartReader.from_response(response))
    else:
        return None
    method = params.pop("method", None)
    if not method:
        return None
    return method, params, uploads
