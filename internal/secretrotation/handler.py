"""Rotates the service's admin password: Secrets Manager's rotation function for the admin
secret, with the same two stages as fvdeploy's `secrets rotate` (internal/rotation).

Lambda handler `handler.handler` (python3.12). Environment: SECRET_ARN, CLUSTER, SERVICE.

Stage A is the rotation protocol: createSecret stores as AWSPENDING the current value with a
new ADMIN_PASS and the current one as ADMIN_PASS_PREVIOUS (the service accepts both);
finishSecret makes it AWSCURRENT and starts a new deployment of the service. Stage B runs when
EventBridge reports that one of the service's deployments completed: if the secret still holds
a previous password, it is cleared (a new AWSCURRENT version) and the service rolled again;
when that deployment completes, the previous password is empty and nothing more happens.

No value of the secret ever reaches a log line or an exception message.
"""

import json
import logging
import os
from datetime import datetime
from typing import Any

KEY_PASS = "ADMIN_PASS"  # noqa: S105 (a key name, not a password)
KEY_PREVIOUS = "ADMIN_PASS_PREVIOUS"
PASSWORD_LENGTH = 32

log = logging.getLogger()
log.setLevel(logging.INFO)


class RotationError(RuntimeError):
    """A step cannot go on; raised so Secrets Manager (or EventBridge) retries it."""


def clients() -> tuple[Any, Any]:
    """The Secrets Manager and ECS clients. Tests replace this function."""
    # The Lambda runtime provides boto3; imported here so that packaging needs nothing.
    import boto3

    return boto3.client("secretsmanager"), boto3.client("ecs")


def handler(event: dict, context: Any) -> None:
    sm, ecs = clients()
    if "Step" in event:
        rotate_step(sm, ecs, event)
    elif event.get("detail-type") == "ECS Deployment State Change":
        deployment_changed(sm, ecs, event)
    else:
        raise RotationError("unexpected event: neither a rotation step nor an ECS deployment")


def rotate_step(sm: Any, ecs: Any, event: dict) -> None:
    secret, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    if secret != os.environ["SECRET_ARN"]:
        # The function's role may touch one secret only; say so rather than fail on access.
        raise RotationError(f"asked to rotate {secret}, but this function rotates only its own")
    stages = sm.describe_secret(SecretId=secret).get("VersionIdsToStages", {})
    # RotateSecret lists the token's version before createSecret gives it a value; createSecret
    # also accepts a token not listed (moto's mock cannot hold a version without a value).
    if token not in stages and step != "createSecret":
        raise RotationError(f"secret {secret} has no version {token} to rotate to")
    if "AWSCURRENT" in stages.get(token, []) and step != "finishSecret":
        log.info("%s: version %s is current already", step, token)
        return
    if step == "createSecret":
        create_secret(sm, secret, token)
    elif step in ("setSecret", "testSecret"):
        # The service reads the secret when its tasks start: nothing to set or test
        # beyond the shape of what finishSecret will make current.
        check_shape(read(sm, secret, VersionId=token, VersionStage="AWSPENDING"), secret)
        log.info("%s: version %s of %s is well formed", step, token, secret)
    elif step == "finishSecret":
        finish_secret(sm, ecs, secret, token, stages)
    else:
        raise RotationError(f"unknown rotation step {step!r}")


def create_secret(sm: Any, secret: str, token: str) -> None:
    current = read(sm, secret, VersionStage="AWSCURRENT")
    check_shape(current, secret)
    try:
        sm.get_secret_value(SecretId=secret, VersionId=token, VersionStage="AWSPENDING")
        log.info("createSecret: version %s of %s exists already; kept", token, secret)
        return
    except sm.exceptions.ResourceNotFoundException:
        pass
    password = sm.get_random_password(
        PasswordLength=PASSWORD_LENGTH,
        ExcludePunctuation=True,
        IncludeSpace=False,
        RequireEachIncludedType=True,
    )["RandomPassword"]
    pending = dict(current)
    pending[KEY_PREVIOUS] = current[KEY_PASS]
    pending[KEY_PASS] = password
    sm.put_secret_value(
        SecretId=secret,
        ClientRequestToken=token,
        SecretString=json.dumps(pending),
        VersionStages=["AWSPENDING"],
    )
    log.info("createSecret: stored version %s of %s as AWSPENDING (stage A)", token, secret)


def finish_secret(sm: Any, ecs: Any, secret: str, token: str, stages: dict) -> None:
    current = next((v for v, s in stages.items() if "AWSCURRENT" in s), None)
    if current != token:
        sm.update_secret_version_stage(
            SecretId=secret,
            VersionStage="AWSCURRENT",
            MoveToVersionId=token,
            RemoveFromVersionId=current,
        )
        log.info("finishSecret: version %s of %s is AWSCURRENT (stage A)", token, secret)
    # Also when a retry finds the version current already: the earlier try may have
    # failed before the service was rolled, and one more deployment does no harm.
    roll(ecs, "stage A: every task to accept the new and the previous password")


def deployment_changed(sm: Any, ecs: Any, event: dict) -> None:
    detail = event.get("detail", {})
    if detail.get("eventName") != "SERVICE_DEPLOYMENT_COMPLETED":
        return
    service = os.environ["SERVICE"]
    if not any(r.endswith(f"/{service}") for r in event.get("resources", [])):
        log.info("deployment of another service completed; ignored")
        return
    secret = os.environ["SECRET_ARN"]
    value, created = read_current(sm, secret)
    if not value.get(KEY_PREVIOUS):
        log.info("deployment completed; %s holds no previous password: nothing to do", secret)
        return
    started = deployment_started(ecs, detail.get("deploymentId", ""))
    if started is None or started < created:
        # A deployment begun before stage A was stored may run tasks that never read the
        # new password: clearing the previous one now could refuse a valid client.
        log.info("a deployment older than stage A completed; waiting for stage A's")
        return
    value[KEY_PREVIOUS] = ""
    sm.put_secret_value(SecretId=secret, SecretString=json.dumps(value))
    log.info("stage B: cleared the previous password in %s", secret)
    roll(ecs, "stage B: every task to drop the previous password")


def deployment_started(ecs: Any, deployment_id: str) -> datetime | None:
    out = ecs.describe_services(cluster=os.environ["CLUSTER"], services=[os.environ["SERVICE"]])
    for svc in out.get("services", []):
        for d in svc.get("deployments", []):
            if d.get("id") == deployment_id:
                return d.get("createdAt")
    return None


def roll(ecs: Any, why: str) -> None:
    cluster, service = os.environ["CLUSTER"], os.environ["SERVICE"]
    ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    log.info("started a new deployment of %s/%s (%s)", cluster, service, why)


def read(sm: Any, secret: str, **version: str) -> dict:
    out = sm.get_secret_value(SecretId=secret, **version)
    return decode(out["SecretString"], secret)


def read_current(sm: Any, secret: str) -> tuple[dict, datetime]:
    out = sm.get_secret_value(SecretId=secret, VersionStage="AWSCURRENT")
    value = decode(out["SecretString"], secret)
    check_shape(value, secret)
    return value, out["CreatedDate"]


def decode(text: str, secret: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, dict):
        # Never chain the decoding error: it could quote the value.
        raise RotationError(f"secret {secret} does not hold a JSON object") from None
    return value


def check_shape(value: dict, secret: str) -> None:
    if not isinstance(value.get(KEY_PASS), str) or not value[KEY_PASS]:
        raise RotationError(f"secret {secret} holds no {KEY_PASS}")
    if not isinstance(value.get(KEY_PREVIOUS, ""), str):
        raise RotationError(f"secret {secret}: {KEY_PREVIOUS} is not a string")
