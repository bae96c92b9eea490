"""openapi-spec-validator accepts smsgate's generated OpenAPI document.
Env: SMSGATE_BASE (http://host:port), SMSGATE_TOKEN."""

import os

import requests
from openapi_spec_validator import validate

base = os.environ["SMSGATE_BASE"]
r = requests.get(
    f"{base}/api/v1/openapi.json",
    headers={"Authorization": f"Bearer {os.environ['SMSGATE_TOKEN']}"},
    timeout=30,
)
r.raise_for_status()
doc = r.json()
validate(doc)
assert doc["openapi"].startswith("3."), doc["openapi"]
print(f"openapi: valid, {len(doc['paths'])} paths")
