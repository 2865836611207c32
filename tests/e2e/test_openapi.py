"""The OpenAPI document is usable by the tools people use with one.

- `openapi-spec-validator` accepts `/openapi.json` as OpenAPI 3.1.
- Every answer pinned in `crates/server/tests/it/snapshots/wire.json` (the wire format the
  SDKs read) validates against the schema the document gives for that route and status, so the
  document describes what the server really sends.
- A client generated from the document by `openapi-python-client` (generated into a temp dir
  at test time) creates an application, a dataset, a sample and an endpoint against the real
  binary, and what it created is what the segments-ai SDK and the raw API see.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable

import pytest
import requests
from e2e_helpers import REPO_ROOT, Account, Datahooks, unique
from openapi_schema_validator import OAS31Validator
from openapi_spec_validator import validate as validate_spec

SNAPSHOT = REPO_ROOT / "crates/server/tests/it/snapshots/wire.json"


@pytest.fixture(scope="module")
def document(server: Datahooks) -> dict[str, Any]:
    r = requests.get(f"{server.base_url}/openapi.json", timeout=10)
    assert r.status_code == 200
    return r.json()


def test_the_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"] == "3.1.0"
    validate_spec(document)  # raises on any error


def response_schema(doc: dict[str, Any], label: str, status: int) -> dict[str, Any] | None:
    """The documented schema of `label`'s answer ("GET /path (404)") with this status."""
    method, path = label.split(" ")[:2]
    op = doc["paths"][path][method.lower()]
    resp = op["responses"][str(status)]
    content = resp.get("content")
    return None if content is None else content["application/json"]["schema"]


def test_every_pinned_answer_matches_its_documented_schema(document: dict[str, Any]) -> None:
    calls = json.loads(SNAPSHOT.read_text())
    checked = 0
    for call in calls:
        schema = response_schema(document, call["call"], call["status"])
        if schema is None:
            assert call["body"] is None, call["call"]
            continue
        # `$ref`s point into the document's components.
        OAS31Validator({**schema, "components": document["components"]}).validate(call["body"])
        checked += 1
    assert checked > 60, checked


def generate_client(document: dict[str, Any], out: Path) -> Any:
    spec = out / "openapi.json"
    spec.write_text(json.dumps(document))
    config = out / "config.yaml"
    # No formatter hooks: the generated code is imported, not committed.
    config.write_text("package_name_override: datahooks_client\npost_hooks: []\n")
    target = out / "client"
    cp = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec),
         "--output-path", str(target), "--config", str(config), "--fail-on-warning"],
        capture_output=True, text=True, timeout=300,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    sys.path.insert(0, str(target))
    try:
        return importlib.import_module("datahooks_client")
    finally:
        sys.path.remove(str(target))


def test_a_generated_client_creates_a_dataset_a_sample_and_an_endpoint(
    document: dict[str, Any],
    server: Datahooks,
    make_account: Callable[..., Account],
    tmp_path: Path,
) -> None:
    pkg = generate_client(document, tmp_path)
    from datahooks_client import AuthenticatedClient
    from datahooks_client.api.applications import apps_create
    from datahooks_client.api.datasets import datasets_create_mine
    from datahooks_client.api.endpoints import endpoints_create, endpoints_list_endpoints
    from datahooks_client.api.samples import samples_create
    from datahooks_client.models import (
        ApplicationIn, ApplicationOut, Dataset, DatasetIn, EndpointIn, EndpointOut,
        Error, Sample, SampleIn, TaskType,
    )

    assert pkg.__name__ == "datahooks_client"
    jane = make_account("gen")
    # The segments-ai SDK's scheme ("APIKey <key>") ...
    client = AuthenticatedClient(base_url=server.base_url, token=jane.api_key, prefix="APIKey")
    # ... and the svix client's ("Bearer <key>"), both declared in the document.
    bearer = AuthenticatedClient(base_url=server.base_url, token=jane.api_key)

    name = unique("gen")
    ds = datasets_create_mine.sync(
        client=client,
        body=DatasetIn(name=name, description="From a generated client", task_type=TaskType.VECTOR),
    )
    assert isinstance(ds, Dataset), ds
    assert ds.full_name == f"{jane.username}/{name}"
    assert ds.task_type == TaskType.VECTOR

    sample = samples_create.sync(
        owner=jane.username, name=name, client=client,
        body=SampleIn.from_dict({"name": "rose.png",
                                 "attributes": {"image": {"url": "https://example.com/rose.png"}}}),
    )
    assert isinstance(sample, Sample), sample
    assert sample.name == "rose.png"
    assert sample.dataset_full_name == ds.full_name

    # A typed error: the same sample again.
    again = samples_create.sync_detailed(
        owner=jane.username, name=name, client=client, body=SampleIn(name="rose.png"),
    )
    assert again.status_code >= 400
    assert isinstance(again.parsed, Error), again.content
    assert again.parsed.detail

    app = apps_create.sync(client=bearer, body=ApplicationIn(uid=jane.username))
    assert isinstance(app, ApplicationOut), app
    assert app.uid == jane.username

    ep = endpoints_create.sync(
        app=jane.username, client=bearer,
        body=EndpointIn(url="https://example.com/hook", filter_types=["sample.created"],
                        channels=[ds.full_name], description="generated"),
    )
    assert isinstance(ep, EndpointOut), ep
    assert ep.id.startswith("ep_")
    assert ep.filter_types == ["sample.created"]
    assert ep.channels == [ds.full_name]

    listed = endpoints_list_endpoints.sync(app=jane.username, client=bearer)
    assert [e.id for e in listed.data] == [ep.id]
    assert listed.done is True

    # What the generated client made is what the official SDK and the raw API see.
    assert jane.client.get_dataset(ds.full_name).description == "From a generated client"
    assert [s.name for s in jane.client.get_samples(ds.full_name)] == ["rose.png"]
    r = requests.get(f"{server.base_url}/api/v1/app/{jane.username}/endpoint/{ep.id}",
                     headers=jane.auth, timeout=10)
    assert r.json()["url"] == "https://example.com/hook"
