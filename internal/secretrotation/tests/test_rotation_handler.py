"""The rotation function against moto's in-process Secrets Manager and ECS (mock_aws)."""

import importlib.util
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import boto3
import pytest
from moto import mock_aws
from moto.secretsmanager.models import SecretsManagerBackend

HANDLER = Path(__file__).resolve().parent.parent / "handler.py"
REGION = "us-east-1"
CLUSTER = "fastapi-vars-prod"
SERVICE = "fastapi-vars-prod"
OLD = "old-password-0123456789abcdefghij"
SERVICE_ARN = f"arn:aws:ecs:{REGION}:123456789012:service/{CLUSTER}/{SERVICE}"


class Env:
    def __init__(self, module: ModuleType, sm, ecs, arn: str):
        self.h, self.sm, self.ecs, self.arn = module, sm, ecs, arn

    def step(self, step: str, token: str) -> None:
        event = {"SecretId": self.arn, "ClientRequestToken": token, "Step": step}
        self.h.handler(event, None)

    def begin(self) -> str:
        """A rotation's token, as RotateSecret passes it to each step."""
        return str(uuid.uuid4())

    def rotate(self) -> str:
        token = self.begin()
        for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
            self.step(step, token)
        return token

    def current(self) -> dict:
        out = self.sm.get_secret_value(SecretId=self.arn, VersionStage="AWSCURRENT")
        return json.loads(out["SecretString"])

    def pending(self, token: str) -> dict:
        out = self.sm.get_secret_value(SecretId=self.arn, VersionId=token)
        return json.loads(out["SecretString"])

    def deployments(self) -> list[dict]:
        out = self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])
        return out["services"][0]["deployments"]

    def completed(self, service_arn: str = SERVICE_ARN, event_name: str = "", dep: str = ""):
        """EventBridge's event for the completion of the service's newest deployment."""
        event = {
            "source": "aws.ecs",
            "detail-type": "ECS Deployment State Change",
            "resources": [service_arn],
            "detail": {
                "eventType": "INFO",
                "eventName": event_name or "SERVICE_DEPLOYMENT_COMPLETED",
                "deploymentId": dep or self.deployments()[0]["id"],
            },
        }
        self.h.handler(event, None)


def _moves_current(monkeypatch) -> None:
    """Teaches moto what AWS does: the version UpdateSecretVersionStage makes AWSCURRENT is
    the one a read without a stage returns and the one a later PutSecretValue supersedes.
    moto 5.2 keeps both on the version current before (its own gap, not the handler's)."""
    original = SecretsManagerBackend.update_secret_version_stage

    def update(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
        out = original(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
        if version_stage == "AWSCURRENT" and move_to_version_id:
            self.secrets[secret_id].default_version_id = move_to_version_id
        return out

    monkeypatch.setattr(SecretsManagerBackend, "update_secret_version_stage", update)


@pytest.fixture
def env(monkeypatch):
    _moves_current(monkeypatch)
    for key in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        sm = boto3.client("secretsmanager", region_name=REGION)
        ecs = boto3.client("ecs", region_name=REGION)
        value = {"ADMIN_USER": "admin", "ADMIN_PASS": OLD, "ADMIN_PASS_PREVIOUS": ""}
        arn = sm.create_secret(Name="fastapi-vars-prod-admin", SecretString=json.dumps(value))[
            "ARN"
        ]
        ecs.create_cluster(clusterName=CLUSTER)
        ecs.register_task_definition(
            family=SERVICE, containerDefinitions=[{"name": "app", "image": "x", "memory": 512}]
        )
        ecs.create_service(
            cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=2
        )
        monkeypatch.setenv("SECRET_ARN", arn)
        monkeypatch.setenv("CLUSTER", CLUSTER)
        monkeypatch.setenv("SERVICE", SERVICE)
        spec = importlib.util.spec_from_file_location("rotation_handler", HANDLER)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.clients = lambda: (sm, ecs)
        yield Env(module, sm, ecs, arn)


def test_create_secret_stores_stage_a_as_pending(env):
    token = env.begin()
    env.step("createSecret", token)
    pending = env.pending(token)
    assert pending["ADMIN_PASS_PREVIOUS"] == OLD
    new = pending["ADMIN_PASS"]
    assert len(new) == 32 and new.isalnum() and new != OLD
    assert pending["ADMIN_USER"] == "admin"
    stages = env.sm.describe_secret(SecretId=env.arn)["VersionIdsToStages"]
    assert stages[token] == ["AWSPENDING"]
    assert env.current()["ADMIN_PASS"] == OLD  # nothing current changes before finishSecret


def test_create_secret_keeps_an_existing_pending_value(env):
    token = env.begin()
    env.step("createSecret", token)
    first = env.pending(token)
    env.step("createSecret", token)  # Secrets Manager retries a step that timed out
    assert env.pending(token) == first


def test_set_and_test_check_the_pending_shape(env):
    token = env.begin()
    env.step("createSecret", token)
    env.step("setSecret", token)
    env.step("testSecret", token)
    bad = str(uuid.uuid4())
    env.sm.put_secret_value(
        SecretId=env.arn,
        ClientRequestToken=bad,
        SecretString=json.dumps({"ADMIN_USER": "admin"}),
        VersionStages=["AWSPENDING"],
    )
    for step in ("setSecret", "testSecret"):
        with pytest.raises(env.h.RotationError, match="holds no ADMIN_PASS"):
            env.step(step, bad)


def test_finish_secret_makes_stage_a_current_and_rolls_the_service(env):
    before = env.deployments()[0]["id"]
    token = env.rotate()
    stages = env.sm.describe_secret(SecretId=env.arn)["VersionIdsToStages"]
    assert "AWSCURRENT" in stages[token]
    assert env.current()["ADMIN_PASS_PREVIOUS"] == OLD
    after = env.deployments()[0]["id"]
    assert after != before, "finishSecret did not start a new deployment"


def test_finish_secret_retried_rolls_again_without_moving_stages(env):
    token = env.rotate()
    value = env.current()
    first = env.deployments()[0]["id"]
    env.step("finishSecret", token)
    assert env.current() == value
    assert env.deployments()[0]["id"] != first


def test_steps_refuse_an_unknown_token_and_another_secret(env):
    with pytest.raises(env.h.RotationError, match="has no version"):
        env.step("setSecret", str(uuid.uuid4()))
    other = env.sm.create_secret(Name="other", SecretString="{}")["ARN"]
    with pytest.raises(env.h.RotationError, match="rotates only its own"):
        env.h.handler({"SecretId": other, "ClientRequestToken": "t", "Step": "createSecret"}, None)


def test_stage_b_after_stage_a_rollout_then_nothing(env):
    env.rotate()
    new = env.current()["ADMIN_PASS"]
    stage_a = env.deployments()[0]["id"]
    env.completed()  # stage A's deployment completed
    assert env.current() == {"ADMIN_USER": "admin", "ADMIN_PASS": new, "ADMIN_PASS_PREVIOUS": ""}
    stage_b = env.deployments()[0]["id"]
    assert stage_b != stage_a, "stage B did not start a new deployment"
    versions = len(env.sm.list_secret_version_ids(SecretId=env.arn)["Versions"])
    env.completed()  # stage B's deployment completed: the end
    assert env.deployments()[0]["id"] == stage_b
    assert len(env.sm.list_secret_version_ids(SecretId=env.arn)["Versions"]) == versions


@pytest.mark.parametrize(
    "case",
    ["another service", "not a completion", "unknown deployment", "deployment older than A"],
)
def test_events_that_do_not_end_stage_a(env, case, monkeypatch):
    env.rotate()
    value = env.current()
    dep = env.deployments()[0]["id"]
    if case == "another service":
        env.completed(service_arn=SERVICE_ARN.replace(SERVICE, "other") + "x")
    elif case == "not a completion":
        env.completed(event_name="SERVICE_DEPLOYMENT_IN_PROGRESS")
    elif case == "unknown deployment":
        env.completed(dep="ecs-svc/1")
    else:
        real = env.h.deployment_started
        monkeypatch.setattr(
            env.h, "deployment_started", lambda e, d: real(e, d) - timedelta(hours=1)
        )
        env.completed()
    assert env.current() == value, f"{case}: stage B ran"
    assert env.deployments()[0]["id"] == dep, f"{case}: the service was rolled"


def test_unexpected_event_is_an_error(env):
    with pytest.raises(env.h.RotationError, match="unexpected event"):
        env.h.handler({"source": "aws.events"}, None)


def test_no_value_reaches_the_log(env, caplog):
    caplog.set_level(logging.INFO)  # the handler's level, as in Lambda
    env.rotate()
    new = env.current()["ADMIN_PASS"]
    env.completed()
    assert caplog.records, "the handler logged nothing"
    for text in (OLD, new):
        assert text not in caplog.text


def test_a_value_that_is_not_json_is_not_quoted(env):
    env.sm.put_secret_value(SecretId=env.arn, SecretString="not-json-" + OLD)
    with pytest.raises(env.h.RotationError) as err:
        env.step("createSecret", env.begin())
    assert OLD not in str(err.value) and err.value.__cause__ is None


def test_timestamps_compare(env):
    # deployment_started and the version's CreatedDate must be comparable datetimes.
    env.rotate()
    started = env.h.deployment_started(env.ecs, env.deployments()[0]["id"])
    assert isinstance(started, datetime) and started.tzinfo is not None
    assert started <= datetime.now(UTC) + timedelta(minutes=1)
