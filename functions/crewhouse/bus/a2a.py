"""A2A JSON-RPC for hosted agents: ``SendMessage`` (A2A 1.0) and ``message/send`` (0.3), answered with a Message.

A remote A2A client posts a JSON-RPC 2.0 request to a hosted agent's endpoint (its card's supported interface);
the agent answers in one turn, so the result is a Message (no Task to poll). Each version is answered in its own
shapes: 1.0 roles ``ROLE_USER``/``ROLE_AGENT`` and parts keyed by content (``{"text": …}``, ``{"data": …}``),
0.3 roles ``user``/``agent`` and parts with ``kind``. Pure: the answering is passed in.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

Item = dict[str, Any]
SEND_METHODS = {"SendMessage": "1.0", "message/send": "0.3"}
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
MAX_TEXT_CHARACTERS = 100_000


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def error_response(request_id: Any, error: RpcError) -> Item:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": error.code, "message": error.message}}


def parse_request(body: bytes) -> tuple[Any, str, Item]:
    """(id, protocol version, the message) of a send request; :class:`RpcError` for anything else."""
    try:
        request = json.loads(body)
    except ValueError as error:
        raise RpcError(PARSE_ERROR, "The body is not JSON.") from error
    if not isinstance(request, dict) or request.get("jsonrpc") != "2.0" or "method" not in request:
        raise RpcError(INVALID_REQUEST, "Not a JSON-RPC 2.0 request.")
    version = SEND_METHODS.get(str(request["method"]))
    if version is None:
        raise RpcError(METHOD_NOT_FOUND, f"Method {request['method']!r} is not supported; use SendMessage.")
    message = (request.get("params") or {}).get("message") if isinstance(request.get("params"), dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("parts"), list) or not message["parts"]:
        raise RpcError(INVALID_PARAMS, "params.message with at least one part is required.")
    return request.get("id"), version, message


def message_text(message: Item) -> str:
    """The message's text and data parts as one prompt (files are not read)."""
    pieces = []
    for part in message["parts"]:
        if not isinstance(part, dict):
            raise RpcError(INVALID_PARAMS, "Each part must be an object.")
        if isinstance(part.get("text"), str):
            pieces.append(part["text"])
        elif "data" in part:
            pieces.append(json.dumps(part["data"]))
    text = "\n".join(pieces)
    if not text:
        raise RpcError(INVALID_PARAMS, "The message has no text or data part.")
    if len(text) > MAX_TEXT_CHARACTERS:
        raise RpcError(INVALID_PARAMS, f"The message is longer than {MAX_TEXT_CHARACTERS} characters.")
    return text


def answer_message(request_id: Any, version: str, message: Item, answer: Callable[[str], str]) -> Item:
    """The JSON-RPC response carrying the agent's reply as a Message in the request's own protocol version."""
    reply = answer(message_text(message))
    common = {"messageId": str(uuid.uuid4()), **({"contextId": message["contextId"]}
                                                  if message.get("contextId") else {})}
    if version == "1.0":
        result: Item = {"message": {**common, "role": "ROLE_AGENT", "parts": [{"text": reply}]}}
    else:
        result = {**common, "kind": "message", "role": "agent", "parts": [{"kind": "text", "text": reply}]}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}
