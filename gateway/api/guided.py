"""vLLM's removed guided-decoding fields, translated to the one it reads now.

vLLM 0.34 no longer knows ``guided_json``, ``guided_regex``, ``guided_choice``,
``guided_grammar`` and ``guided_whitespace_pattern``: it accepts them as unknown extra fields
and ignores them, so output a client asked to constrain comes back unconstrained, with a 200
(vllm/entrypoints/serve/engine/protocol.py, ``_REMOVED_GUIDED_FIELDS``, only logs it). The
constraint now goes in ``structured_outputs`` (vllm/sampling_params.py,
``StructuredOutputsParams``: ``json``, ``regex``, ``choice``, ``grammar``,
``whitespace_pattern``, one constraint at a time). A client written for older vLLM keeps
working: its field is moved there. What cannot be moved without guessing (two constraints,
or one alongside ``structured_outputs`` or a ``response_format`` that constrains too) is a
400 that says what to send instead; a guided field never reaches a worker.
"""

from __future__ import annotations

from typing import Any

from gateway.api.errors import bad_request

# The old field → its key in structured_outputs.
_CONSTRAINTS = {
    "guided_json": "json",
    "guided_regex": "regex",
    "guided_choice": "choice",
    "guided_grammar": "grammar",
}
_WHITESPACE = "guided_whitespace_pattern"
GUIDED_FIELDS = frozenset({*_CONSTRAINTS, _WHITESPACE})


def guided_translate(body: dict[str, Any]) -> None:
    """Move the guided_* fields of a reviewed body (gateway/api/fields.py checked their
    types and sizes) into ``structured_outputs``, in place, or refuse."""
    for name in GUIDED_FIELDS & body.keys():
        if body[name] is None:
            del body[name]  # an explicit null asks for nothing
    given = [name for name in _CONSTRAINTS if name in body]
    if not given and _WHITESPACE not in body:
        return
    if len(given) > 1:
        raise bad_request(
            f"Only one constraint may be set, and {given[0]} and {given[1]} are both here.",
            param=given[1],
        )
    if not given:
        raise bad_request(
            f"`{_WHITESPACE}` applies only together with a constraint such as `guided_json`.",
            param=_WHITESPACE,
        )
    name = given[0]
    if body.get("structured_outputs") is not None:
        raise bad_request(
            f"`{name}` and `structured_outputs` both constrain the output; send only "
            f'`structured_outputs` (`{{"{_CONSTRAINTS[name]}": …}}`).',
            param=name,
        )
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") != "text":
        raise bad_request(
            f"`{name}` and `response_format` both constrain the output; send only one.",
            param=name,
        )
    structured = {_CONSTRAINTS[name]: body.pop(name)}
    if _WHITESPACE in body:
        structured["whitespace_pattern"] = body.pop(_WHITESPACE)
    body["structured_outputs"] = structured
