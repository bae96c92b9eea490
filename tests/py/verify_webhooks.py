"""Verifies webhooks smsgate signed with the PyPI `standardwebhooks`
package (the Standard Webhooks reference verifier, written by others).

Usage: verify_webhooks.py FILE, where FILE is JSON:
  {"secret": "whsec_...", "requests": [{"headers": {...}, "body": BASE64}]}

Every request must verify; the same request with one byte of its body
changed must be refused. Prints "verified N" and exits 0, or names the
first failure and exits 1.
"""

import base64
import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> int:
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    wh = Webhook(spec["secret"])
    requests = spec["requests"]
    if not requests:
        print("no requests to verify")
        return 1
    for i, req in enumerate(requests):
        body = base64.b64decode(req["body"])
        headers = req["headers"]
        try:
            payload = wh.verify(body, headers)
        except WebhookVerificationError as e:
            print(f"request {i} ({headers.get('webhook-id')}): refused: {e}")
            return 1
        if payload.get("event_id") is None or payload.get("type") is None:
            print(f"request {i}: not an event object: {payload}")
            return 1
        changed = bytearray(body)
        # Change one character inside the JSON (a digit of event_id stays
        # valid JSON either way; the signature must not).
        pos = body.find(b'"event_id":') + len(b'"event_id":')
        changed[pos] = ord("9") if changed[pos] != ord("9") else ord("8")
        try:
            wh.verify(bytes(changed), headers)
        except WebhookVerificationError:
            pass
        else:
            print(f"request {i}: a changed body was accepted")
            return 1
    print(f"verified {len(requests)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
