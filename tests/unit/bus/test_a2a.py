"""A2A JSON-RPC parsing and answers, in both protocol generations."""

from __future__ import annotations

import json

import pytest

from crewhouse.bus import a2a


def body(method: str = "SendMessage", **message: object) -> bytes:
    parts = message.pop("parts", [{"text": "hello"}])
    return json.dumps({"jsonrpc": "2.0", "id": 7, "method": method,
                       "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": parts, **message}}}
                      ).encode()


def test_a_1_0_send_is_answered_with_a_1_0_message() -> None:
    request_id, version, message = a2a.parse_request(body(contextId="c1", parts=[{"text": "hi"}, {"data": {"n": 1}}]))
    response = a2a.answer_message(request_id, version, message, lambda text: text.upper())
    assert response["id"] == 7 and response["jsonrpc"] == "2.0"
    answer = response["result"]["message"]
    assert answer["role"] == "ROLE_AGENT" and answer["contextId"] == "c1"
    assert answer["parts"] == [{"text": 'HI\n{"N": 1}'}] and answer["messageId"]


def test_a_0_3_send_is_answered_in_0_3_shapes() -> None:
    request_id, version, message = a2a.parse_request(body("message/send", parts=[{"kind": "text", "text": "yo"}]))
    result = a2a.answer_message(request_id, version, message, lambda text: f"<{text}>")["result"]
    assert (result["kind"], result["role"], result["parts"]) == ("message", "agent", [{"kind": "text", "text": "<yo>"}])


@pytest.mark.parametrize("raw, code", [
    (b"{not json", a2a.PARSE_ERROR),
    (b'{"id": 1, "method": "SendMessage"}', a2a.INVALID_REQUEST),
    (body("tasks/get"), a2a.METHOD_NOT_FOUND),
    (body(parts=[]), a2a.INVALID_PARAMS),
    (json.dumps({"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}}).encode(), a2a.INVALID_PARAMS),
])
def test_malformed_requests_get_their_json_rpc_error(raw: bytes, code: int) -> None:
    with pytest.raises(a2a.RpcError) as raised:
        a2a.parse_request(raw)
    assert raised.value.code == code
    assert a2a.error_response(3, raised.value)["error"]["code"] == code


def test_a_message_without_text_or_data_is_invalid() -> None:
    _, _, message = a2a.parse_request(body(parts=[{"url": "https://example.com/f.png"}]))
    with pytest.raises(a2a.RpcError, match="no text"):
        a2a.message_text(message)
