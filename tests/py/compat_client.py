"""The SMS Gateway for Android reference client (PyPI android-sms-gateway)
against smsgate's compatible API. Run by tests/http_python.rs with:
SMSGATE_URL (…/3rdparty/v1), SMSGATE_USER, SMSGATE_TOKEN, SMSGATE_TO (a
number), SMSGATE_INBOX_TEXT (a text already received). SIM 1 delivers at
once; SIM 2 is slow, so a second message to it stays queued."""

import os
import sys
import time

from android_sms_gateway import client, domain
from android_sms_gateway.enums import ProcessState

URL = os.environ["SMSGATE_URL"]
USER = os.environ["SMSGATE_USER"]
TOKEN = os.environ["SMSGATE_TOKEN"]
TO = os.environ["SMSGATE_TO"]
INBOX_TEXT = os.environ["SMSGATE_INBOX_TEXT"]


def wait_state(api, msg_id, want, timeout=60):
    deadline = time.time() + timeout
    while True:
        st = api.get_state(msg_id)
        if st.state == want:
            return st
        if time.time() > deadline:
            sys.exit(f"message {msg_id} is {st.state}, not {want}")
        time.sleep(0.2)


with client.APIClient(USER, TOKEN, base_url=URL) as api:
    # Send with a delivery report and poll to Delivered.
    msg = domain.Message(
        phone_numbers=[TO],
        text_message=domain.TextMessage(text="hello from the reference client"),
        with_delivery_report=True,
        sim_number=1,
    )
    st = api.send(msg)
    assert st.state in (ProcessState.Pending, ProcessState.Processed), st
    assert [r.phone_number for r in st.recipients] == [TO], st
    done = wait_state(api, st.id, ProcessState.Delivered)
    assert done.recipients[0].state == ProcessState.Delivered, done

    # A client-given id is the idempotency key: a repeat answers the same.
    again = domain.Message(
        id="client-id-1",
        phone_numbers=[TO, TO[:-1] + "9"],
        text_message=domain.TextMessage(text="twice, once"),
        sim_number=1,
    )
    first = api.send(again)
    second = api.send(again)
    assert first.id == second.id == "client-id-1", (first, second)
    assert len(first.recipients) == 2, first
    wait_state(api, "client-id-1", ProcessState.Delivered)

    # Cancel one that is still queued behind a slow send on SIM 2.
    slow = api.send(domain.Message(phone_numbers=[TO], text_message=domain.TextMessage(text="slow"), sim_number=2))
    queued = api.send(domain.Message(phone_numbers=[TO], text_message=domain.TextMessage(text="never"), sim_number=2))
    assert api.get_state(queued.id).state == ProcessState.Pending
    api.cancel_message(queued.id)
    assert api.get_state(queued.id).state == ProcessState.Cancelled

    # List: the states and ids the client knows.
    listed = api.get_messages()
    ids = [m.id for m in listed]
    assert "client-id-1" in ids and st.id in ids and queued.id in ids, ids
    assert ids.count("client-id-1") == 1, ids
    assert any(m.state == ProcessState.Cancelled for m in listed), listed

    # Inbox.
    inbox = api.list_inbox_messages()
    assert any(m.content_preview == INBOX_TEXT for m in inbox), inbox

    # Health, as that project answers it.
    assert api.health_check().status.value == "pass"

print("compat client: ok")
