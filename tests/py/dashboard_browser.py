"""The dashboard in headless Chromium (Debian's chromium and chromedriver,
driven with Selenium), against a running smsgate. Run by
tests/dashboard_browser.rs; prints one JSON line of figures at the end and
exits non-zero with a reason on any failure.

Modes:
  live    sign in with an admin token; modem names, queue numbers and both
          charts are in the DOM; a message sent through the API appears, and
          reaches `delivered`, without a reload; search filters; every request
          went to the daemon's origin and the page weighs under 300 KB; a
          screenshot (desktop and phone width); then a read-only token gets no
          send form.
  outage  sign in; print "STOP" and wait for a line on stdin while the caller
          stops the daemon... the banner must say it is unreachable; print
          "START" and wait for a line again while the caller restarts it; the
          banner goes, the stream is live again, and a message sent now
          appears without a reload.
"""

import argparse
import json
import os
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

LIMIT = 300 * 1024
WAIT = 30


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


def wait_for(what, fn, timeout=WAIT):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            v = fn()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - stale elements while re-rendering
            last = e
        time.sleep(0.1)
    fail(f"timed out waiting for {what} (last error: {last})")


def browser(binary, driver_path, profile):
    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for a in [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-extensions",
        "--disable-default-apps",
        "--metrics-recording-only",
        "--hide-scrollbars",
        "--force-device-scale-factor=1",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=opts, service=Service(executable_path=driver_path))


def api(base, token, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def sign_in(d, token):
    wait_for("the token form", lambda: d.find_element(By.ID, "token").is_displayed())
    d.find_element(By.ID, "token").send_keys(token)
    d.find_element(By.CSS_SELECTOR, "#login-form button").click()
    wait_for("the dashboard", lambda: d.find_element(By.ID, "app").is_displayed())


def modem_names(d):
    return [e.get_attribute("data-modem") for e in d.find_elements(By.CSS_SELECTOR, "#modems tbody tr[data-modem]")]


def row_text(d, table, ident):
    rows = d.find_elements(By.CSS_SELECTOR, f'#{table} tbody tr[data-id="{ident}"]')
    return rows[0].text if rows else ""


def network_log(d, origin):
    """Every request the page made and the bytes each took on the wire."""
    urls, sizes = {}, {}
    for entry in d.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        p = msg.get("params", {})
        if msg["method"] == "Network.requestWillBeSent":
            urls[p["requestId"]] = p["request"]["url"]
        elif msg["method"] == "Network.loadingFinished":
            sizes[p["requestId"]] = p.get("encodedDataLength", 0)
        elif msg["method"] == "Network.dataReceived":
            # The event stream never finishes: count what it received.
            sizes.setdefault("stream:" + p["requestId"], 0)
            sizes["stream:" + p["requestId"]] += p.get("encodedDataLength", 0)
    outside = [u for u in urls.values() if not (u.startswith(origin + "/") or u == origin)]
    finished = {k: v for k, v in sizes.items() if not k.startswith("stream:")}
    total = sum(finished.values())
    for k, v in sizes.items():
        if k.startswith("stream:") and k[len("stream:"):] not in finished:
            total += v
    return list(urls.values()), outside, total


def live(args, d):
    base = args.url.rstrip("/")
    origin = base
    d.execute_cdp_cmd("Network.enable", {})
    d.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    # A webhook endpoint that refuses connections: the page lists it.
    hook = api(base, args.token, "POST", "/api/v1/webhooks",
               {"url": "http://127.0.0.1:9/smsgate-hook", "events": ["delivered"]})
    # Chromium's own start page is not ours: leave it, forget its requests.
    d.get("about:blank")
    d.get_log("performance")
    d.get(base + "/")
    load_ms = d.execute_script("return performance.getEntriesByType('navigation')[0].loadEventEnd")
    signed = time.time()
    sign_in(d, args.token)

    # Modem names, queue numbers, charts.
    names = wait_for("three modems", lambda: (lambda n: n if len(n) >= 3 else None)(modem_names(d)))
    wait_for("the first chart", lambda: d.find_elements(By.CSS_SELECTOR, "#chart-ppm svg"))
    data_ms = (time.time() - signed) * 1000
    for want in args.modems.split(","):
        if want not in names:
            fail(f"modem {want} not on the page: {names}")
    delivered = wait_for(
        "the delivered count",
        lambda: (lambda t: int(t) if t.isdigit() and int(t) >= args.min_delivered else None)(
            d.find_element(By.CSS_SELECTOR, "#q-delivered b").text
        ),
    )
    api_status = api(base, args.token, "GET", "/api/v1/status")
    wait_for(
        "queue numbers equal to the API's",
        lambda: int(d.find_element(By.CSS_SELECTOR, "#q-delivered b").text) == api_status["queue"]["delivered"]
        and int(d.find_element(By.CSS_SELECTOR, "#q-inbox b").text) == api_status["queue"]["inbox"],
    )
    lines = wait_for("a line in the parts chart", lambda: d.find_elements(By.CSS_SELECTOR, "#chart-ppm svg path.line"))
    bars = wait_for("a bar in the delivery chart", lambda: d.find_elements(By.CSS_SELECTOR, "#chart-rate svg rect.bar"))
    legend = d.find_element(By.ID, "legend-ppm").text
    for want in args.modems.split(","):
        if want not in legend:
            fail(f"chart legend lacks {want}: {legend!r}")
    wait_for("the webhook endpoint", lambda: "127.0.0.1:9/smsgate-hook" in d.find_element(By.ID, "webhooks").text)
    if not d.find_element(By.ID, "send-form").is_displayed():
        fail("an admin token sees no send form")

    # A message sent through the API appears, then is delivered, without a reload.
    d.execute_script("window.__sameDocument = 'yes'")
    text = f"dashboard live check {int(time.time() * 1000) % 100000}"
    sent = api(base, args.token, "POST", "/api/v1/messages", {"to": args.to, "text": text, "report": True})
    mid = sent["id"]
    wait_for(f"message {mid} in the outgoing list", lambda: text in row_text(d, "outbox", mid))
    wait_for(f"message {mid} delivered on the page", lambda: "delivered" in row_text(d, "outbox", mid), timeout=60)
    # The simulated network hands it to the SIM with that number: it is
    # received and shows in the incoming list too.
    wait_for("the message in the incoming list", lambda: any(
        text in r.text for r in d.find_elements(By.CSS_SELECTOR, "#inbox tbody tr")))
    wait_for("the event in the live list", lambda: f"#{mid}" in d.find_element(By.ID, "events").text)
    if d.execute_script("return window.__sameDocument") != "yes":
        fail("the page was reloaded")
    if d.find_element(By.ID, "live").text != "live":
        fail("the stream pill does not say live")

    # Search filters the outgoing list.
    box = d.find_element(By.ID, "outbox-search")
    box.send_keys(text)
    wait_for("search to leave one row", lambda: len(d.find_elements(By.CSS_SELECTOR, "#outbox tbody tr[data-id]")) == 1)
    box.clear()
    box.send_keys("zz-no-such-message")
    wait_for("search to leave none", lambda: "nothing matches" in d.find_element(By.ID, "outbox").text)
    d.execute_script("arguments[0].value=''; arguments[0].dispatchEvent(new Event('input'))", box)

    # What the page fetched: only the daemon, under 300 KB in all.
    urls, outside, total = network_log(d, origin)
    if outside:
        fail(f"requests outside the daemon: {outside}")
    if not any(u.endswith("/api/v1/events") for u in urls):
        fail(f"no event stream among the requests: {urls}")
    if total >= LIMIT:
        fail(f"the page took {total} bytes (limit {LIMIT})")
    timing = d.execute_script(
        "return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => [e.name, e.transferSize || 0])"
    )
    bad = [n for n, _ in timing if not n.startswith(origin)]
    if bad:
        fail(f"resource timing names outside the daemon: {bad}")
    # A daemon without campaigns answers 404 there (the page hides the
    # section); any other error in the console is a failure.
    errors = [
        e for e in d.get_log("browser")
        if e.get("level") == "SEVERE" and not ("/api/v1/campaigns" in e.get("message", "") and "404" in e.get("message", ""))
    ]
    if errors:
        fail(f"console errors: {errors}")

    # The window selector redraws the charts from another series.
    Select(d.find_element(By.ID, "window")).select_by_value("1h,1m")
    wait_for("the one-hour chart", lambda: d.find_elements(By.CSS_SELECTOR, '#chart-ppm[data-step="60"] svg path.line'))

    # Screenshots: the whole page at desktop width, and a phone.
    d.execute_script("document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0)")
    height = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(1280, min(max(900, height + 20), 4000))
    time.sleep(0.5)  # let the charts redraw at the new size (a resize handler, 200 ms)
    d.save_screenshot(args.screenshot)
    d.set_window_size(390, 844)
    time.sleep(0.5)
    overflow = d.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 2:
        fail(f"the page is {overflow}px wider than a phone screen")
    phone = args.screenshot.replace(".png", "-phone.png")
    height = d.execute_script("return document.documentElement.scrollHeight")
    d.set_window_size(390, min(height + 20, 4000))
    time.sleep(0.5)
    d.save_screenshot(phone)
    d.set_window_size(1280, 900)

    # A read-only token: no send form.
    d.find_element(By.ID, "forget").click()
    sign_in(d, args.read_token)
    wait_for("modems for the read-only token", lambda: len(modem_names(d)) >= 3)
    who = d.find_element(By.ID, "who").text
    if "read" not in who or "admin" in who:
        fail(f"whoami line: {who!r}")
    if d.find_elements(By.ID, "send-form"):
        fail("a read-only token was given a send form")
    wait_for("the message for the read-only token", lambda: text in row_text(d, "outbox", mid))

    print(json.dumps({
        "modems": names,
        "delivered_tile": delivered,
        "chart_lines": len(lines),
        "rate_bars": len(bars),
        "requests": len(urls),
        "bytes": total,
        "load_ms": round(load_ms, 1),
        "data_ms": round(data_ms, 1),
        "message": mid,
        "webhook": hook["id"],
        "screenshots": [args.screenshot, phone],
    }), flush=True)


def outage(args, d):
    base = args.url.rstrip("/")
    d.get(base + "/")
    sign_in(d, args.token)
    wait_for("modems", lambda: len(modem_names(d)) >= 1)
    wait_for("the stream", lambda: d.find_element(By.ID, "live").text == "live")
    d.execute_script("window.__sameDocument = 'yes'")
    print("STOP", flush=True)
    sys.stdin.readline()
    banner = wait_for("the unreachable banner", lambda: (lambda b: b.text if b.is_displayed() else None)(
        d.find_element(By.ID, "banner")))
    if "Cannot reach" not in banner:
        fail(f"banner says {banner!r}")
    if d.find_element(By.ID, "live").text == "live":
        fail("the pill still says live with the daemon gone")
    print("START", flush=True)
    sys.stdin.readline()
    wait_for("the banner to go", lambda: not d.find_element(By.ID, "banner").is_displayed(), timeout=60)
    wait_for("the stream again", lambda: d.find_element(By.ID, "live").text == "live")
    text = f"after the outage {int(time.time() * 1000) % 100000}"
    sent = api(base, args.token, "POST", "/api/v1/messages", {"to": args.to, "text": text})
    wait_for("the new message on the page", lambda: text in row_text(d, "outbox", sent["id"]))
    if d.execute_script("return window.__sameDocument") != "yes":
        fail("the page was reloaded")
    print(json.dumps({"banner": banner, "message": sent["id"]}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["live", "outage"], default="live")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--read-token")
    ap.add_argument("--modems", default="sim1,sim2,sim3")
    ap.add_argument("--to", required=True)
    ap.add_argument("--min-delivered", type=int, default=1)
    ap.add_argument("--screenshot", default="target/dashboard.png")
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    ap.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    args = ap.parse_args()
    # Selenium must not look for drivers on the network.
    os.environ["SE_OFFLINE"] = "true"
    with tempfile.TemporaryDirectory(prefix="smsgate-chromium.") as profile:
        d = browser(args.chromium, args.chromedriver, profile)
        try:
            if args.mode == "live":
                if not args.read_token:
                    fail("--read-token is needed in live mode")
                live(args, d)
            else:
                outage(args, d)
        finally:
            d.quit()


if __name__ == "__main__":
    main()
