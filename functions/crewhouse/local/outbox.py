"""What would have been sent: the e-mail and push notifications the embedded cloud captured, for developers.

Covers: on the embedded cloud nothing leaves the machine. moto keeps every SES message it accepted (SES v1 and v2
``SendEmail``: ``ses_backends[…].sent_messages``) and every SNS ``Publish`` to a mobile platform endpoint
(``PlatformEndpoint.messages``), but shows them to no one. This serves them at ``GET /_local/outbox`` on the local
gateway (never in the template, so never deployed): JSON by default, a plain HTML page for a browser
(``Accept: text/html`` or ``?format=html``). Newest first; ``?to=<address or token part>`` filters, ``?limit=``
(default 50, at most 500) caps each list. Everything that sends mail counts: notifications, invitations.
"""

from __future__ import annotations

import html
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

PATH = "/_local/outbox"
DEFAULT_LIMIT, MAX_LIMIT = 50, 500


def captured_mail() -> list[dict[str, Any]]:
    """Every message SES accepted, in every account and region, oldest first."""
    from moto.ses.models import ses_backends

    found: list[dict[str, Any]] = []
    for account, regions in list(ses_backends.items()):
        for region, backend in list(regions.items()):
            for message in list(backend.sent_messages):
                destinations = message.destinations
                if isinstance(destinations, dict):
                    to, cc, bcc = (list(destinations.get(k) or []) for k in ("ToAddresses", "CcAddresses",
                                                                              "BccAddresses"))
                else:
                    to, cc, bcc = list(destinations or []), [], []
                entry: dict[str, Any] = {"id": getattr(message, "id", None), "account": account, "region": region,
                                         "from": message.source, "to": to, "cc": cc, "bcc": bcc}
                if hasattr(message, "raw_data"):
                    entry["raw"] = message.raw_data
                elif hasattr(message, "template"):
                    entry.update(template=message.template, template_data=message.template_data)
                else:
                    entry.update(subject=message.subject, body=message.body)
                found.append(entry)
    return found


def captured_push() -> list[dict[str, Any]]:
    """Every message published to a mobile platform endpoint (FCM, APNs …), oldest first per endpoint."""
    from moto.sns.models import sns_backends

    found: list[dict[str, Any]] = []
    for account, regions in list(sns_backends.items()):
        for region, backend in list(regions.items()):
            for endpoint in list(backend.platform_endpoints.values()):
                for message_id, message in list(endpoint.messages.items()):
                    found.append({"id": message_id, "account": account, "region": region,
                                  "endpoint_arn": endpoint.arn, "platform": endpoint.application.platform,
                                  "application": endpoint.application.name, "token": endpoint.token,
                                  "message": _maybe_json(message)})
    return found


def outbox(to: str | None = None, limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    mail, push = captured_mail(), captured_push()
    if to:
        needle = to.lower()
        mail = [m for m in mail if any(needle in a.lower() for a in (*m["to"], *m["cc"], *m["bcc"]))]
        push = [p for p in push if needle in str(p["token"]).lower() or needle in p["endpoint_arn"].lower()]
    return {"mail": mail[::-1][:limit], "push": push[::-1][:limit], "counts": {"mail": len(mail), "push": len(push)}}


def _maybe_json(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def _limit(value: str | None) -> int:
    try:
        return max(1, min(MAX_LIMIT, int(value))) if value else DEFAULT_LIMIT
    except ValueError:
        return DEFAULT_LIMIT


def _page(found: dict[str, Any]) -> str:
    def cell(value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)
        return f"<pre>{html.escape(text)}</pre>"

    mail_rows = "".join(
        f"<tr><td>{html.escape(', '.join(m['to'] + m['cc'] + m['bcc']))}</td><td>{html.escape(str(m['from']))}</td>"
        f"<td>{html.escape(str(m.get('subject') or m.get('template') or '(raw)'))}</td>"
        f"<td>{cell(m.get('body') or m.get('raw') or m.get('template_data') or '')}</td></tr>" for m in found["mail"])
    push_rows = "".join(
        f"<tr><td>{html.escape(p['platform'])} / {html.escape(p['application'])}</td>"
        f"<td>{html.escape(str(p['token']))}</td><td>{cell(p['message'])}</td></tr>" for p in found["push"])
    counts = found["counts"]
    return f"""<!doctype html><html><head><meta charset="utf-8"><title>Crewhouse local outbox</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #ccc;padding:.4em;vertical-align:top;text-align:left}}pre{{white-space:pre-wrap;margin:0}}
</style></head><body><h1>What would have been sent</h1>
<p>Captured by the embedded cloud; nothing left this machine. Newest first. JSON: <code>{PATH}</code>.</p>
<h2>E-mail ({counts['mail']})</h2><table><tr><th>To</th><th>From</th><th>Subject</th><th>Body</th></tr>
{mail_rows}</table>
<h2>Push ({counts['push']})</h2><table><tr><th>Platform / app</th><th>Device token</th><th>Message</th></tr>
{push_rows}</table></body></html>"""


async def _outbox(request: Request) -> Response:
    found = outbox(request.query_params.get("to"), _limit(request.query_params.get("limit")))
    wants_html = request.query_params.get("format") == "html" or (
        request.query_params.get("format") != "json" and "text/html" in request.headers.get("accept", ""))
    return HTMLResponse(_page(found)) if wants_html else JSONResponse(found)


def outbox_route() -> Route:
    return Route(PATH, _outbox, methods=["GET"])
