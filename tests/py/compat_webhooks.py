"""Webhooks through the compatible API with the SMS Gateway for Android
reference client (PyPI android-sms-gateway): it sets a signing key (PATCH
/settings), registers `sms:received` and `sms:delivered` at a receiver run
here (http.server on 127.0.0.1), and sends an SMS with a delivery report to
the gateway's own SIM number (SMSGATE_OWN, SIM 1), which the simulated
network hands back to that SIM: one message gives both events. Each body is
that project's envelope and its X-Signature (hex HMAC-SHA256 of the body
then X-Timestamp) checks with the key. Run by tests/http_python.rs with
SMSGATE_URL (…/3rdparty/v1), SMSGATE_USER, SMSGATE_TOKEN, SMSGATE_OWN."""

import hashlib
import hmac
import http.server
import json
import os
import queue
import sys
import threading

from android_sms_gateway import client, domain
from android_sms_gateway.enums import WebhookEvent

URL = os.environ["SMSGATE_URL"]
USER = os.environ["SMSGATE_USER"]
TOKEN = os.environ["SMSGATE_TOKEN"]
OWN = os.environ["SMSGATE_OWN"]
KEY = "compat-signing-key-1"
TEXT = "hello webhook"

got = queue.Queue()


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        got.put((dict(self.headers), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
threading.Thread(target=server.serve_forever, daemon=True).start()
hook_url = f"http://127.0.0.1:{server.server_address[1]}/hook"

with client.APIClient(USER, TOKEN, base_url=URL) as api:
    api.patch_settings(
        domain.DeviceSettings(webhooks=domain.SettingsWebhooks(signing_key=KEY))
    )
    made = {}
    for ev in (WebhookEvent.SMS_RECEIVED, WebhookEvent.SMS_DELIVERED):
        wh = api.create_webhook(domain.Webhook(id=None, url=hook_url, event=ev))
        assert wh.id and wh.url == hook_url and wh.event == ev, wh
        made[ev.value] = wh.id
    # A client-named one, then removed.
    named = api.create_webhook(
        domain.Webhook(id="named-1", url=hook_url, event=WebhookEvent.SMS_SENT)
    )
    assert named.id == "named-1", named
    listed = {w.id: w.event.value for w in api.get_webhooks()}
    assert listed == {**{v: k for k, v in made.items()}, "named-1": "sms:sent"}, listed
    api.delete_webhook("named-1")
    assert "named-1" not in {w.id for w in api.get_webhooks()}

    st = api.send(
        domain.Message(
            phone_numbers=[OWN],
            text_message=domain.TextMessage(text=TEXT),
            with_delivery_report=True,
            sim_number=1,
        )
    )

seen = {}
while len(seen) < 2:
    try:
        headers, body = got.get(timeout=60)
    except queue.Empty:
        sys.exit(f"only {sorted(seen)} arrived")
    h = {k.lower(): v for k, v in headers.items()}
    ts = h["x-timestamp"]
    want = hmac.new(KEY.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
    assert hmac.compare_digest(h["x-signature"], want), (h, body)
    env = json.loads(body)
    assert set(env) >= {"deviceId", "event", "id", "webhookId", "payload"}, env
    assert env["webhookId"] == made[env["event"]], (env, made)
    seen[env["event"]] = env["payload"]

rec = seen["sms:received"]
assert rec["message"] == TEXT and rec["phoneNumber"] == OWN, rec
assert rec["messageId"] and rec["receivedAt"] and rec["simNumber"] == 1, rec
dlv = seen["sms:delivered"]
assert dlv["phoneNumber"] == OWN and dlv["deliveredAt"], dlv
server.shutdown()
print("compat webhooks: ok")
