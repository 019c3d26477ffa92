"""Session 7 review: the OpenAPI document declares what the routes take and answer."""

from __future__ import annotations

import re

from serve_support import served

from lllm.serve.app import create_app


def test_every_path_template_is_a_declared_path_parameter(package_dir):
    from lllm.serve.tactics import openapi

    doc = openapi(served(package_dir))
    for path, item in doc["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for method, op in item.items():
            declared = {p["name"] for p in op.get("parameters", []) + item.get("parameters", []) if p["in"] == "path"}
            assert declared == names, f"{method.upper()} {path} declares {declared}"
            assert all(p["required"] for p in op.get("parameters", []) if p["in"] == "path")


def test_the_batch_operation_documents_the_202_it_answers(package_dir, start, store):
    s = start(create_app(served(package_dir, store), store=store))
    status, doc = s.json("GET", "/openapi.json")
    status, body = s.json("POST", "/tactics/echo/batch", {"tasks": [{"topic": "a"}]})
    assert status == 202 and body["job_id"]
    assert {"202", "409"} <= set(doc["paths"]["/tactics/echo/batch"]["post"]["responses"])
