"""Stand in for ECS in the demo: moto runs no task and routes no traffic.

Runs the app (api/) on loopback with the credentials `up` stored, registers one target in
the environment's target group (moto reports registered targets healthy), and copies the
app's access log lines into the service's log group, as the awslogs driver would.
Usage: demo_standin.py STATE_FILE PORT. Runs until killed.
"""

import json
import os
import signal
import subprocess
import sys
import time

import boto3


def main() -> None:
    # A kill ends the loop through `finally`, so the app does not outlive the demo.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    state_file, port = sys.argv[1], sys.argv[2]
    with open(state_file) as f:
        resources = json.load(f)["resources"]
    tg = resources["network/tg"]["arn"]
    group = resources["cluster/log-group"]["id"]
    boto3.client("elbv2").register_targets(
        TargetGroupArn=tg, Targets=[{"Id": "10.0.128.1", "Port": 8000}]
    )
    logs = boto3.client("logs")
    stream = "app/app/demo"
    logs.create_log_stream(logGroupName=group, logStreamName=stream)
    here = os.path.dirname(os.path.abspath(__file__))
    # The command is fixed here; only the port comes from the caller, as an argument.
    app = subprocess.Popen(  # noqa: S603
        [os.path.join(os.path.dirname(sys.executable), "uvicorn"), "main:app"]
        + ["--host", "127.0.0.1", "--port", port, "--no-access-log"],
        cwd=os.path.join(here, "..", "api"),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        for line in app.stdout:
            event = {"timestamp": int(time.time() * 1000), "message": line.rstrip("\n")}
            logs.put_log_events(logGroupName=group, logStreamName=stream, logEvents=[event])
    finally:
        app.terminate()
        app.wait()


if __name__ == "__main__":
    main()
