#!/usr/bin/python3
"""Differential helper for tests/differential_gammu.rs: python3-gammu as an
independent SMS PDU implementation.

Reads one JSON object on stdin:
  {"decode": ["<pdu hex with SMSC prefix>", ...],
   "encode": [{"text": "...", "unicode": true|false}, ...]}
and writes one JSON object on stdout:
  {"decoded": [{"utf16": "<UTF-16BE hex>", "seq": n, "total": n, "number": "..."} | {"error": "..."}, ...],
   "encoded": [["<pdu hex>", ...] | {"error": "..."}, ...]}
"""
import json
import sys

import gammu


def decode(hex_pdu):
    try:
        sms = gammu.DecodePDU(bytes.fromhex(hex_pdu))
    except Exception as e:  # gammu raises its own error types
        return {"error": repr(e)}
    udh = sms.get("UDH") or {}
    return {
        # UTF-16BE hex: gammu can hand back lone surrogates, which JSON
        # strings cannot carry.
        # python-gammu converts "Length" units of gammu's NUL-terminated
        # buffer, and for GSM-7 "Length" counts septets (an escape is two),
        # so stale units follow a NUL: cut at the first NUL (our texts have none).
        "utf16": (sms.get("Text") or "").split("\0", 1)[0].encode("utf-16-be", "surrogatepass").hex(),
        "seq": udh.get("PartNumber", -1),
        "total": udh.get("AllParts", 0),
        "number": sms.get("Number") or "",
        "coding": sms.get("Coding") or "",
    }


def encode(item):
    try:
        smss = gammu.EncodeSMS(
            {
                "Class": -1,
                "Unicode": bool(item["unicode"]),
                "Entries": [{"ID": "ConcatenatedTextLong", "Buffer": item["text"]}],
            }
        )
        out = []
        for sms in smss:
            sms["Number"] = "+15551234567"
            sms["SMSC"] = {"Location": 0, "Number": "+447785016005", "Validity": "NA"}
            out.append(gammu.EncodePDU(sms, "Submit").hex())
        return out
    except Exception as e:
        return {"error": repr(e)}


def main():
    req = json.load(sys.stdin)
    resp = {
        "decoded": [decode(h) for h in req.get("decode", [])],
        "encoded": [encode(i) for i in req.get("encode", [])],
    }
    json.dump(resp, sys.stdout)


if __name__ == "__main__":
    main()
