"""Relays CloudWatch alarm notifications from SNS to a Slack-compatible incoming webhook.

Lambda handler `handler.handler` (python3.12). WEBHOOK_SECRET_ARN names the Secrets Manager
secret whose SecretString is the webhook URL. Whoever holds that URL can post to the channel,
so it never appears in a log line or an exception message.
"""

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT_SECONDS = 10

STATE_MARKERS = {
    "ALARM": "\N{LARGE RED CIRCLE}",
    "OK": "\N{LARGE GREEN CIRCLE}",
    "INSUFFICIENT_DATA": "\N{MEDIUM WHITE CIRCLE}",
}

# One Secrets Manager call per container rather than per notification.
_webhook_url: str | None = None


class WebhookError(RuntimeError):
    """The webhook did not accept a message; raised so Lambda retries the event."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST comes back as a GET without the body: fail (HTTPError) instead of
    # reporting a message as posted that never was.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def fetch_webhook_url(secret_arn: str) -> str:
    """Read the webhook URL from Secrets Manager. Tests replace this function."""
    # The Lambda runtime provides boto3; imported here so that tests do not need it.
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=secret_arn)
    return secret["SecretString"].strip()


def _webhook() -> str:
    global _webhook_url
    if _webhook_url is None:
        _webhook_url = fetch_webhook_url(os.environ["WEBHOOK_SECRET_ARN"])
    return _webhook_url


def _escape(text: str) -> str:
    # Slack's required escapes: keeps text from an alarm or a publisher from turning into
    # links or mentions such as <!channel>.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _alarm(message: str) -> dict[str, Any] | None:
    """The CloudWatch alarm notification in an SNS message, or None for any other message."""
    try:
        alarm = json.loads(message)
    except ValueError:
        return None
    if isinstance(alarm, dict) and {"AlarmName", "NewStateValue", "AlarmArn"} <= alarm.keys():
        return alarm
    return None


def console_link(alarm: dict[str, Any]) -> str:
    # The region comes from the ARN: the notification's "Region" is a display name such as
    # "US East (N. Virginia)".
    region = alarm["AlarmArn"].split(":")[3]
    name = urllib.parse.quote(alarm["AlarmName"], safe="")
    return (
        f"https://{region}.console.aws.amazon.com/cloudwatch/home"
        f"?region={region}#alarmsV2:alarm/{name}"
    )


def alarm_text(alarm: dict[str, Any]) -> str:
    state = alarm["NewStateValue"]
    headline = f"*{_escape(alarm['AlarmName'])}* is {state}"
    if alarm.get("OldStateValue"):
        headline += f" (was {alarm['OldStateValue']})"
    marker = STATE_MARKERS.get(state)
    lines = [f"{marker} {headline}" if marker else headline]
    if alarm.get("AlarmDescription"):
        lines.append(_escape(alarm["AlarmDescription"]))
    if alarm.get("NewStateReason"):
        lines.append(f"Reason: {_escape(alarm['NewStateReason'])}")
    if alarm.get("StateChangeTime"):
        lines.append(f"Time: {alarm['StateChangeTime']}")
    lines.append(console_link(alarm))
    return "\n".join(lines)


def plain_text(sns: dict[str, Any]) -> str:
    message = _escape(sns.get("Message") or "")
    subject = sns.get("Subject")
    return f"*{_escape(subject)}*\n{message}" if subject else message


def post(url: str, text: str) -> None:
    request = urllib.request.Request(  # noqa: S310 - the URL is our own secret, not user input
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    # `from None` everywhere: the chained urllib errors carry the URL, and Lambda prints the
    # whole chain.
    try:
        _opener.open(request, timeout=TIMEOUT_SECONDS).close()
    except urllib.error.HTTPError as err:
        raise WebhookError(f"webhook answered HTTP {err.code}") from None
    except urllib.error.URLError as err:
        raise WebhookError(f"webhook request failed: {type(err.reason).__name__}") from None
    except OSError as err:  # e.g. a timeout while reading the answer
        raise WebhookError(f"webhook request failed: {type(err).__name__}") from None


def handler(event: dict[str, Any], context: Any) -> None:
    for record in event.get("Records", []):
        sns = record["Sns"]
        alarm = _alarm(sns.get("Message") or "")
        if alarm is not None:
            post(_webhook(), alarm_text(alarm))
            print(f"relayed alarm {alarm['AlarmName']}: {alarm['NewStateValue']}")
        else:
            post(_webhook(), plain_text(sns))
            print("relayed a non-alarm SNS message")
