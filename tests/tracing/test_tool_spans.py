"""A tool call (MCP, against the real test server of tests/mcp_server.py) is an
``execute_tool`` span after the GenAI conventions, its arguments and result on it only when an
admin opted in, and the server is never sent the trace context; received by the real OTLP/HTTP
receiver."""

from __future__ import annotations

import json

from asgiref.sync import async_to_sync
from django.contrib.auth.models import Group

from tests.mcp_server import mcp, mcp_server  # noqa: F401 (fixtures)
from tests.tools.conftest import register
from tools.calls import tool_step_run
from tools.selectors import tools_usable


def test_a_tool_call_is_a_span_with_its_content_only_when_opted_in(
    mcp,  # noqa: F811
    owner,
    db,
    receiver,
    local_tracing,
):
    owner.groups.add(Group.objects.get_or_create(name="tool users")[0])
    register(mcp.url)
    [tool] = tools_usable(user=owner, names=["demo/weather"])
    for capture in (False, True):
        local_tracing(capture_content=capture)
        step = async_to_sync(tool_step_run)(tool=tool, arguments={"city": "Ushuaia"}, budget=10)
        assert step.status == "ok", step.result
        spans = receiver.wait_for(
            lambda spans, n=int(capture) + 1: (
                found
                if len(found := [s for s in spans if s.name == "execute_tool weather"]) == n
                else None
            )
        )
        attributes = spans[-1].attributes
        assert attributes["gen_ai.operation.name"] == "execute_tool"
        assert attributes["gen_ai.tool.name"] == "weather"
        assert attributes["aiportal.mcp.server"] == "demo"
        assert attributes["aiportal.tool.status"] == "ok"
        if not capture:
            assert "Ushuaia" not in json.dumps(attributes)
            assert step.result not in json.dumps(attributes)
        else:
            assert json.loads(attributes["gen_ai.tool.call.arguments"]) == {"city": "Ushuaia"}
            assert attributes["gen_ai.tool.call.result"] == step.result
    # A registered MCP server is another party: it is never sent the trace context.
    assert mcp.record.calls and not mcp.record.traceparents
