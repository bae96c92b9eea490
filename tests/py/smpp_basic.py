"""An ESME written with smpplib against smsgate's SMPP face.

Binds as a transceiver, submits GSM-7, UCS-2 with an emoji, a long message as
UDH parts and one as message_payload (each with registered_delivery), then
waits for a receipt per message and for the received SMS (the destination is
the gateway's own second SIM). Prints one JSON object for the Rust test.
Usage: smpp_basic.py PORT SYSTEM_ID PASSWORD TO TIMEOUT_S
"""
import json
import sys
import time

import smpplib.client
import smpplib.consts
import smpplib.gsm

port, system_id, password, to, timeout = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5])
client = smpplib.client.Client("127.0.0.1", int(port), timeout=timeout)
out = {"submitted": {}, "receipts": {}, "mo": [], "resp_status": []}
pending = {}


def on_sent(pdu):
    # submit_sm_resp: the id the receipt must carry.
    out["resp_status"].append(pdu.status)
    label = pending.pop(pdu.sequence, None)
    if label is not None and pdu.status == 0:
        mid = pdu.message_id.decode() if isinstance(pdu.message_id, bytes) else pdu.message_id
        out["submitted"].setdefault(label, set()).add(mid)


def on_deliver(pdu):
    text = pdu.short_message or b""
    payload = getattr(pdu, "message_payload", None)
    if payload:
        text = payload
    if pdu.esm_class & 0x04:
        rid = pdu.receipted_message_id
        rid = rid.decode() if isinstance(rid, bytes) else rid
        out["receipts"][rid] = text.decode("ascii", "replace")
    else:
        if pdu.data_coding == 8:
            out["mo"].append(text.decode("utf-16-be", "replace"))
        else:
            out["mo"].append(text.decode("latin-1"))
    return 0


client.set_message_sent_handler(on_sent)
client.set_message_received_handler(on_deliver)
client.connect()
client.bind_transceiver(system_id=system_id, password=password)


def submit(label, short, coding, esm=0, **kw):
    pdu = client.send_message(
        source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
        source_addr="smpptest",
        dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        destination_addr=to.lstrip("+"),
        short_message=short,
        data_coding=coding,
        esm_class=esm,
        registered_delivery=True,
        **kw,
    )
    pending[pdu.sequence] = label


submit("gsm7", b"Hello over SMPP", smpplib.consts.SMPP_ENCODING_DEFAULT)
submit("ucs2", "Grüße 😀".encode("utf-16-be"), smpplib.consts.SMPP_ENCODING_ISO10646)
long_text = "Long message in parts. " * 12
parts, coding, esm = smpplib.gsm.make_parts(long_text)
for p in parts:
    submit("udh", p, coding, esm)
submit("payload", b"", smpplib.consts.SMPP_ENCODING_DEFAULT, message_payload=("Payload " * 40).encode())

deadline = time.time() + timeout
want_mo = 4
while time.time() < deadline:
    ids = set().union(*out["submitted"].values()) if out["submitted"] else set()
    if len(out["submitted"]) == 4 and ids <= set(out["receipts"]) and len(out["mo"]) >= want_mo:
        break
    client.read_once()
client.unbind()
client.disconnect()
out["submitted"] = {k: sorted(v) for k, v in out["submitted"].items()}
out["long_text"] = long_text
print(json.dumps(out))
