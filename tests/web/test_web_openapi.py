"""Issue 12 #13, issue 22 #8: the API conforms to its OpenAPI document, every check.

schemathesis' engine, as ``schemathesis run`` drives it, runs its phases (examples,
coverage, fuzzing, stateful) against the application in-process (its ASGI interface,
no socket), with a token, as a remote client would call it. Every check is on: a
documented status, a body of the documented schema, the documented content type and
headers, no 5xx, invalid data rejected, valid data accepted, the token really
required, a method a path does not take answered 405 with ``Allow``, ``OPTIONS``
answered with every method of the path. The run is deterministic (a fixed seed,
derandomized, no example database) and bounded (``EXAMPLES`` per operation and
mode): seconds, not minutes. It must find no failure at all.

One allowance, per operation, not per check: a few requests name things outside the
document (a task's function must import, a plugin requirement must resolve, an upload
must be a plugin, a warmed name must be configured). For those operations a
schema-valid request may get a 422, but only lazyext's own error body, naming the
problem: never FastAPI's per-field list, which would mean the document called valid
a request the server finds malformed.
"""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
pytest.importorskip("schemathesis")

from webkit import TOKEN

EXAMPLES: Final = 10
#: Operations whose bodies name things the document cannot check (see above).
REFERENCES: Final = (
    "POST /tasks",
    "PUT /tasks/{task_id}",
    "PATCH /tasks/{task_id}",
    "POST /plugins",
    "POST /plugins/upload",
    "POST /extensions/warm",
)
#: lazyext's refusals of a well-formed request that names something unusable.
SEMANTIC: Final = frozenset(
    {
        "ConfigError",
        "TriggerArgsMissing",
        "NotARequirement",
        "ManifestError",
        "UnsafeArchiveError",
        "DistributionNotFound",
        "InstallError",
        "ResolutionError",
    }
)
#: Every check there is but max_response_time (no limit is set): each must run.
CHECKS: Final = frozenset(
    {
        "use_after_free",
        "ensure_resource_availability",
        "object_level_authorization",
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
        "positive_data_acceptance",
        "missing_required_header",
        "unsupported_method",
        "allow_header_conformance",
        "ignored_auth",
    }
)


def _config(examples: int) -> Any:
    from schemathesis.config import SchemathesisConfig

    expected = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
    config = SchemathesisConfig.from_dict(
        {
            "seed": 1,
            "cache": {"enabled": False},  # nothing carried from one run to the next
            "generation": {"max-examples": examples, "deterministic": True, "database": "none"},
            "checks": {"enabled": True},
            "operations": [
                {
                    "include-name": list(REFERENCES),
                    "checks": {"positive_data_acceptance": {"expected-statuses": expected}},
                }
            ],
        }
    )
    config.projects.override.update(headers={"Authorization": f"Bearer {TOKEN}"}, workers=1)
    return config


def _semantic_only(recorder: Any) -> list[str]:
    """The positive-mode 422s of a run that are not lazyext's semantic refusals."""
    wrong = []
    for case_id, node in recorder.cases.items():
        interaction = recorder.interactions.get(case_id)
        meta = node.value.meta
        if interaction is None or interaction.response is None or meta is None:
            continue
        if not (meta.generation.mode.is_positive and interaction.response.status_code == 422):
            continue
        detail = json.loads(interaction.response.content or b"{}").get("detail")
        if not (isinstance(detail, dict) and detail.get("error") in SEMANTIC):
            wrong.append(f"{interaction.request.uri} -> {detail!r:.300}")
    return wrong


Failures = dict[str, dict[str, list[str]]]


def conformance(app: Any, examples: int = EXAMPLES) -> tuple[Failures, set[str]]:
    """Run schemathesis against ``app``: the failures by check and operation, and the
    checks that ran."""
    import schemathesis
    from schemathesis import engine
    from schemathesis.engine import events
    from schemathesis.python.asgi import shutdown_lifespans

    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(examples))
    failures: Failures = collections.defaultdict(lambda: collections.defaultdict(list))
    ran: set[str] = set()
    try:
        for event in engine.from_schema(schema).execute():
            if isinstance(event, (events.NonFatalError, events.FatalError)):
                failures["error"]["run"].append(str(getattr(event, "info", event)))
            if not isinstance(event, events.ScenarioFinished):
                continue
            for checks in event.recorder.checks.values():
                for check in checks:
                    ran.add(check.name)
                    if check.failure_info is not None:
                        text = f"{check.failure_info.failure}"
                        failures[check.name][event.recorder.label].append(text)
            failures["semantic_422"][event.recorder.label] += _semantic_only(event.recorder)
    finally:
        shutdown_lifespans()
    found = {
        name: {op: texts for op, texts in ops.items() if texts} for name, ops in failures.items()
    }
    return {name: ops for name, ops in found.items() if ops}, ran


@pytest.mark.slow
def test_the_api_conforms_to_its_openapi_document(config_file: Path) -> None:
    from lazyext.web import create_app

    app = create_app(config_file, token=TOKEN, scheduler=False)
    operations = sum(len(methods) for methods in app.openapi()["paths"].values())
    failures, ran = conformance(app)
    assert operations >= 26  # every route of the API is in the document
    assert ran >= CHECKS, sorted(CHECKS - ran)
    counts = {name: len(operations) for name, operations in failures.items()}
    listing = "\n\n".join(
        f"{name}, {operation} ({len(texts)}):\n{texts[0]:.1500}"
        for name, operations in failures.items()
        for operation, texts in operations.items()
    )
    assert not failures, f"operations failing, by check: {counts}\n\n{listing}"


def test_each_error_status_is_documented_with_the_body_it_has(
    serve: Callable[..., Any],
) -> None:
    from lazyext.web.models import ErrorResponse, ValidationErrorResponse

    client = serve(scheduler=False, max_body_bytes=1024)
    document = client.get("/openapi.json").json()

    def schema(path: str, method: str, status: int) -> Any:
        response = document["paths"][path][method]["responses"][str(status)]
        return response["content"]["application/json"]["schema"]

    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in (401, 403, 404, 409, 413, 500, 503):
        assert schema("/tasks", "post", status) == error, status
    assert schema("/plugins/upload", "post", 415) == error
    assert error in schema("/tasks", "post", 400)["anyOf"]
    fields = {"$ref": "#/components/schemas/ValidationErrorResponse"}
    assert schema("/tasks", "post", 422)["anyOf"] == [fields, error]

    # The answers have those bodies.
    too_big = client.post("/tasks", content=b"[" + b" " * 2048 + b"]")
    assert too_big.status_code == 413
    ErrorResponse.model_validate(too_big.json())
    not_multipart = client.post("/plugins/upload", content=b"x")
    assert not_multipart.status_code == 415
    ErrorResponse.model_validate(not_multipart.json())
    broken = client.post(
        "/plugins/upload",
        content=b"--b\r\nno headers at all",
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert broken.status_code == 400, broken.text
    ErrorResponse.model_validate(broken.json())
    malformed = client.get("/tasks/%00")
    assert malformed.status_code == 404
    ErrorResponse.model_validate(malformed.json())
    fields_wrong = client.post("/tasks", json={"func": 1})
    assert fields_wrong.status_code == 422
    ValidationErrorResponse.model_validate(fields_wrong.json())
    semantic = client.post("/tasks", json={"func": "no_such_module_xyz:f"})
    assert semantic.status_code == 422
    ErrorResponse.model_validate(semantic.json())
