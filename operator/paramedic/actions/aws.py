"""AWS clients for the cloud actions, and what their errors mean for a step.

Credentials and region come from boto3's standard chain (IRSA in a cluster,
environment, profile). ``PARAMEDIC_AWS_ENDPOINT_URL`` points every client at
another endpoint (moto in tests, an AWS-compatible service elsewhere).
Throttling is handled by botocore's adaptive retry mode; past its budget the
step fails with the AWS error code. The calls block: the engine runs actions
in its thread pool, never on the event loop.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .base import ActionFailed

T = TypeVar("T")

_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, connect_timeout=5, read_timeout=30)
_PROVIDER_ID = re.compile(r"^aws:///[^/]*/(i-[0-9a-f]+)$")


@functools.lru_cache(maxsize=8)
def client(service: str) -> Any:
    endpoint = os.environ.get("PARAMEDIC_AWS_ENDPOINT_URL") or None
    return boto3.session.Session().client(service, endpoint_url=endpoint, config=_CONFIG)  # type: ignore[call-overload]


def call(fn: Callable[..., T], **kwargs: Any) -> T:
    """Call AWS; an error becomes ActionFailed with the AWS code as its reason."""
    try:
        return fn(**kwargs)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "ClientError"))
        raise ActionFailed(f"AWS {code}: {error.get('Message', exc)}", reason=code) from None
    except (BotoCoreError, ResponseParserError) as exc:
        # ResponseParserError is not a BotoCoreError: an answer that is not AWS's (a proxy's HTML 5xx, an
        # endpoint lacking the call) would otherwise escape and leave the step retrying until its timeout.
        first = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        raise ActionFailed(f"AWS call failed: {first}", reason="AWSUnavailable") from None


def dry_run_ok(fn: Callable[..., Any], **kwargs: Any) -> str:
    """EC2's DryRun: 'DryRunOperation' means the real call would have succeeded."""
    try:
        fn(DryRun=True, **kwargs)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code == "DryRunOperation":
            return "AWS dry run: the request would have succeeded"
        raise ActionFailed(
            f"AWS dry run refused: {code}: {exc.response['Error'].get('Message')}", reason=str(code)
        ) from None
    return "AWS dry run accepted"


def instance_id(provider_id: str | None) -> str:
    match = _PROVIDER_ID.match(provider_id or "")
    if not match:
        raise ActionFailed(f"the node's spec.providerID {provider_id!r} names no EC2 instance", "NotAnEC2Node")
    return match.group(1)
