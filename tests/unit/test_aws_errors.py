"""How an AWS call's failure reaches a step (paramedic.actions.aws.call)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.parsers import ResponseParserError

from paramedic.actions import aws
from paramedic.actions.base import ActionFailed


def test_an_answer_that_is_not_awss_fails_the_step_with_a_reason() -> None:
    """ResponseParserError is not a BotoCoreError: an HTML 500 (moto's server for a call it lacks, a proxy)
    must still fail the step with a reason, its first line only, not escape the action."""

    def html_500(**_: Any) -> None:
        raise ResponseParserError(
            "Unable to parse response (syntax error: line 1, column 0), invalid XML received.\n"
            "b'<!doctype html>\\n<title>500 Internal Server Error</title>'"
        )

    with pytest.raises(ActionFailed) as caught:
        aws.call(html_500)
    assert caught.value.reason == "AWSUnavailable"
    assert str(caught.value) == (
        "AWS call failed: Unable to parse response (syntax error: line 1, column 0), invalid XML received."
    )


def test_an_unreachable_endpoint_fails_the_step_with_a_reason() -> None:
    def unreachable(**_: Any) -> None:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")

    with pytest.raises(ActionFailed) as caught:
        aws.call(unreachable)
    assert caught.value.reason == "AWSUnavailable"
    assert "http://127.0.0.1:1" in str(caught.value)
