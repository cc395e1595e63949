import json
import os
import socket
import sys
import traceback
from types import SimpleNamespace

import pytest

TOPIC_ARN = "arn:aws:sns:us-east-1:123456789012:fastapi-vars-prod-alerts"


def alarm_message(name: str, region: str, new: str, old: str, reason: str) -> dict:
    """A CloudWatch alarm notification as CloudWatch publishes it to SNS."""
    return {
        "AlarmName": name,
        "AlarmDescription": "5xx answers from the fastapi-vars prod ALB",
        "AWSAccountId": "123456789012",
        "AlarmConfigurationUpdatedTimestamp": "2026-04-30T09:12:44.108+0000",
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": "2026-05-01T12:00:04.987+0000",
        # A display name: the region of the console link must come from the ARN.
        "Region": {"us-east-1": "US East (N. Virginia)", "eu-west-1": "EU (Ireland)"}[region],
        "AlarmArn": f"arn:aws:cloudwatch:{region}:123456789012:alarm:{name}",
        "OldStateValue": old,
        "OKActions": [TOPIC_ARN],
        "AlarmActions": [TOPIC_ARN],
        "InsufficientDataActions": [],
        "Trigger": {
            "MetricName": "HTTPCode_Target_5XX_Count",
            "Namespace": "AWS/ApplicationELB",
            "StatisticType": "Statistic",
            "Statistic": "SUM",
            "Unit": None,
            "Dimensions": [
                {"value": "app/fastapi-vars-prod/50dc6c495c0c9188", "name": "LoadBalancer"}
            ],
            "Period": 60,
            "EvaluationPeriods": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "Threshold": 5.0,
            "TreatMissingData": "notBreaching",
        },
    }


def record(message: str, subject: str | None) -> dict:
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": f"{TOPIC_ARN}:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55",
        "Sns": {
            "Type": "Notification",
            "MessageId": "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
            "TopicArn": TOPIC_ARN,
            "Subject": subject,
            "Message": message,
            "Timestamp": "2026-05-01T12:00:05.123Z",
            "SignatureVersion": "1",
            "Signature": "EXAMPLE",
            "SigningCertUrl": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0.pem",
            "UnsubscribeUrl": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {},
        },
    }


def alarm_event(*alarms: dict) -> dict:
    return {
        "Records": [
            record(json.dumps(a), f'{a["NewStateValue"]}: "{a["AlarmName"]}" in {a["Region"]}')
            for a in alarms
        ]
    }


THRESHOLD_CROSSED = (
    "Threshold Crossed: 1 out of the last 1 datapoints [12.0 (01/05/26 11:59:00)] was greater "
    "than or equal to the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition)."
)

ALARMS = [
    pytest.param(
        alarm_message("fastapi-vars-prod-5xx", "us-east-1", "ALARM", "OK", THRESHOLD_CROSSED),
        "\N{LARGE RED CIRCLE}",
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home"
        "?region=us-east-1#alarmsV2:alarm/fastapi-vars-prod-5xx",
        id="alarm",
    ),
    pytest.param(
        alarm_message(
            "fastapi-vars prod/latency p99",
            "eu-west-1",
            "OK",
            "ALARM",
            "Threshold Crossed: 1 datapoint [0.21] was not greater than the threshold (1.0).",
        ),
        "\N{LARGE GREEN CIRCLE}",
        "https://eu-west-1.console.aws.amazon.com/cloudwatch/home"
        "?region=eu-west-1#alarmsV2:alarm/fastapi-vars%20prod%2Flatency%20p99",
        id="ok-quoted-name-other-region",
    ),
    pytest.param(
        alarm_message(
            "fastapi-vars-prod-unhealthy-hosts",
            "us-east-1",
            "INSUFFICIENT_DATA",
            "OK",
            "Insufficient Data: 1 datapoint was unknown.",
        ),
        "\N{MEDIUM WHITE CIRCLE}",
        "https://us-east-1.console.aws.amazon.com/cloudwatch/home"
        "?region=us-east-1#alarmsV2:alarm/fastapi-vars-prod-unhealthy-hosts",
        id="insufficient-data",
    ),
]


def slack_escaped(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@pytest.mark.parametrize(("alarm", "marker", "link"), ALARMS)
def test_alarm_posts_one_message(relay, webhook, capsys, alarm, marker, link):
    relay.handler(alarm_event(alarm), None)

    (received,) = webhook.requests
    assert received.method == "POST"
    assert received.path == "/hook"
    assert received.content_type == "application/json"
    text = received.text()
    first_line = text.splitlines()[0]
    assert first_line.startswith(marker)
    assert alarm["AlarmName"] in first_line
    assert f"is {alarm['NewStateValue']} (was {alarm['OldStateValue']})" in first_line
    assert alarm["AlarmDescription"] in text
    assert f"Reason: {slack_escaped(alarm['NewStateReason'])}" in text
    assert alarm["StateChangeTime"] in text
    assert link in text.splitlines()

    out = capsys.readouterr().out
    assert out == f"relayed alarm {alarm['AlarmName']}: {alarm['NewStateValue']}\n"


@pytest.mark.parametrize(
    ("subject", "message", "text"),
    [
        pytest.param(
            "Test",
            "hello from the SNS console",
            "*Test*\nhello from the SNS console",
            id="with-subject",
        ),
        pytest.param(None, "no subject here", "no subject here", id="without-subject"),
        pytest.param(
            "<!channel> & co",
            '{"not": "an alarm"} <@U123>',
            '*&lt;!channel&gt; &amp; co*\n{"not": "an alarm"} &lt;@U123&gt;',
            id="json-but-not-alarm-and-no-mentions",
        ),
    ],
)
def test_plain_message_posts_subject_and_message(relay, webhook, capsys, subject, message, text):
    relay.handler({"Records": [record(message, subject)]}, None)

    (received,) = webhook.requests
    assert received.content_type == "application/json"
    assert json.loads(received.body) == {"text": text}
    assert capsys.readouterr().out == "relayed a non-alarm SNS message\n"


def test_every_record_is_posted(relay, webhook, capsys):
    names = [f"fastapi-vars-prod-{n}" for n in ("5xx", "latency", "cpu")]
    event = alarm_event(*(alarm_message(n, "us-east-1", "ALARM", "OK", "x") for n in names))

    relay.handler(event, None)

    assert [r.text().splitlines()[0].split("*")[1] for r in webhook.requests] == names
    assert capsys.readouterr().out.splitlines() == [f"relayed alarm {n}: ALARM" for n in names]


def test_url_is_fetched_once_per_container(relay, webhook):
    event = alarm_event(alarm_message("fastapi-vars-prod-5xx", "us-east-1", "ALARM", "OK", "x"))

    relay.handler(event, None)
    relay.handler(event, None)

    assert len(webhook.requests) == 2
    assert relay.fetches == [os.environ["WEBHOOK_SECRET_ARN"]]


def assert_secret_kept(exc: BaseException, captured, url: str) -> None:
    shown = "".join(traceback.format_exception(exc)) + repr(exc) + captured.out + captured.err
    assert url not in shown
    assert "/hook" not in shown  # the secret part of a real webhook URL is its path


@pytest.mark.parametrize(
    ("status", "headers"),
    [
        pytest.param(500, {}, id="500"),
        pytest.param(404, {}, id="404"),
        pytest.param(403, {}, id="403"),
        # Followed, the POST would turn into a GET and the message be lost.
        pytest.param(302, {"Location": "/elsewhere"}, id="redirect"),
    ],
)
def test_non_2xx_raises_without_the_url(relay, webhook, capsys, status, headers):
    webhook.status = status
    webhook.headers = headers
    event = alarm_event(alarm_message("fastapi-vars-prod-5xx", "us-east-1", "ALARM", "OK", "x"))

    with pytest.raises(relay.WebhookError, match=f"HTTP {status}") as raised:
        relay.handler(event, None)

    assert len(webhook.requests) == 1
    captured = capsys.readouterr()
    assert "relayed" not in captured.out
    assert_secret_kept(raised.value, captured, webhook.url)


def test_unreachable_webhook_raises_without_the_url(relay, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"  # nothing listens there any more
    relay.fetch_webhook_url = lambda _arn: url

    with pytest.raises(relay.WebhookError, match="ConnectionRefusedError") as raised:
        relay.handler({"Records": [record("hello", "Test")]}, None)

    assert_secret_kept(raised.value, capsys.readouterr(), url)


def test_slow_webhook_times_out_without_the_url(relay, webhook, capsys, monkeypatch):
    monkeypatch.setattr(relay, "TIMEOUT_SECONDS", 0.2)
    webhook.delay = 1.0

    with pytest.raises(relay.WebhookError, match="TimeoutError") as raised:
        relay.handler({"Records": [record("hello", "Test")]}, None)

    assert_secret_kept(raised.value, capsys.readouterr(), webhook.url)


def test_fetch_reads_the_secret_string(load_handler, monkeypatch):
    asked = []

    class SecretsManager:
        def get_secret_value(self, SecretId):
            asked.append(SecretId)
            return {"SecretString": "https://hooks.example.test/services/T0/B0/x\n"}

    def client(service):
        assert service == "secretsmanager"
        return SecretsManager()

    # The Lambda runtime provides boto3; this stands in for it, so no AWS SDK or call is needed.
    monkeypatch.setitem(sys.modules, "boto3", SimpleNamespace(client=client))
    arn = os.environ["WEBHOOK_SECRET_ARN"]

    assert load_handler().fetch_webhook_url(arn) == "https://hooks.example.test/services/T0/B0/x"
    assert asked == [arn]
