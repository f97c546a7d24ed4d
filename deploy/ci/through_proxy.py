#!/usr/bin/env python3
"""Drives a sign-in and a submission through the TLS proxy in front of the gateway.

Used by `.ci/run deploy`: starts at https://127.0.0.1:<port>/login (nginx, trusting only the
throwaway certificate given with --cafile), follows the redirects to the gateway's built-in
simulator (plain http on loopback) and back, picks the level-2 persona, then files the example
birth registration through the proxy and checks the receipt's key is in the JWKS. It also
checks that the proxy keeps /metrics closed and passes the gateway's security headers.

Loopback only. Standard library only. Exits non-zero naming the step that failed.
"""

import argparse
import base64
import html
import http.client
import json
import re
import ssl
import sys
import urllib.parse

PROCEDURE = "1.001193"
MAX_HOPS = 20
TIMEOUT_SECONDS = 15


def fail(message):
    sys.stderr.write(f"through_proxy.py: {message}\n")
    sys.exit(1)


class Browser:
    """A cookie jar per host:port; https verified against one CA file; no automatic redirects."""

    def __init__(self, cafile):
        self.tls = ssl.create_default_context(cafile=cafile)
        self.jars = {}

    def request(self, method, url, body=None, headers=None):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname != "127.0.0.1" or parts.scheme not in ("http", "https"):
            fail(f"refusing to leave loopback: {url}")
        jar = self.jars.setdefault(parts.netloc, {})
        sent = {"User-Agent": "wardgate-deploy-check", "Accept": "text/html"}
        sent.update(headers or {})
        if jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        if parts.scheme == "https":
            connection = http.client.HTTPSConnection(
                parts.hostname, parts.port, timeout=TIMEOUT_SECONDS, context=self.tls
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, cookie = value.split(";", 1)[0].partition("=")
                attributes = value.lower()
                if "max-age=0" in attributes or "expires=thu, 01 jan 1970" in attributes:
                    jar.pop(name.strip(), None)
                else:
                    jar[name.strip()] = cookie.strip()
        return response, content.decode("utf-8", "replace")


def sign_in(browser, public):
    url = f"{public}/login?procedure={PROCEDURE}"
    gateway = urllib.parse.urlsplit(public).netloc
    trail = []
    for _ in range(MAX_HOPS):
        parts = urllib.parse.urlsplit(url)
        trail.append(f"{parts.scheme}://{parts.netloc}{parts.path}")
        if parts.path.startswith("/interaction/") and parts.netloc != gateway:
            response, body = browser.request("GET", url)
            action = re.search(r'<form method="post" action="([^"]+)"', body)
            if response.status != 200 or action is None or 'value="level2"' not in body:
                fail(f"the simulator's interaction page answered {response.status}")
            login = urllib.parse.urljoin(url, html.unescape(action.group(1)))
            response, body = browser.request(
                "POST",
                login,
                urllib.parse.urlencode({"persona": "level2"}),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response, body = browser.request("GET", url)
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if response.status == 200 and parts.netloc == gateway:
            break
        fail(f"sign-in: {parts.path} answered {response.status} (trail: {trail})")
    else:
        fail(f"sign-in took more than {MAX_HOPS} hops: {trail}")
    if not any("session" in name for name in browser.jars.get(gateway, {})):
        fail(f"signed in, but the gateway set no session cookie (trail: {trail})")
    # The callback came back through the proxy, over TLS.
    if not any(step.startswith(f"https://{gateway}/auth/callback") for step in trail):
        fail(f"the provider did not return to the proxy's https callback (trail: {trail})")
    print(f"signed in through the proxy: {' -> '.join(trail)}")


def get_json(browser, url):
    response, body = browser.request("GET", url, headers={"Accept": "application/json"})
    if response.status != 200:
        fail(f"GET {url} answered {response.status}")
    return response, json.loads(body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public", required=True, help="https://127.0.0.1:<port> (the proxy)")
    parser.add_argument("--cafile", required=True, help="the throwaway certificate")
    args = parser.parse_args()
    browser = Browser(args.cafile)

    response, _ = browser.request("GET", f"{args.public}/")
    if response.status != 200:
        fail(f"the home page answered {response.status} through the proxy")
    if "max-age=" not in (response.getheader("Strict-Transport-Security") or ""):
        fail("the gateway's Strict-Transport-Security header did not come through the proxy")
    response, _ = browser.request("GET", f"{args.public}/metrics")
    if response.status != 404:
        fail(f"/metrics answered {response.status} through the proxy: it must stay internal")

    sign_in(browser, args.public)
    decision_response, decision = get_json(
        browser, f"{args.public}/api/procedures/{PROCEDURE}/decision"
    )
    if decision.get("decision") != "online":
        fail(f"the signed-in level-2 resident is not offered online filing: {decision}")
    _, procedures = get_json(browser, f"{args.public}/api/procedures")
    example = next(p["example"] for p in procedures if p["code"] == PROCEDURE)
    response, body = browser.request(
        "POST",
        f"{args.public}/api/procedures/{PROCEDURE}/submissions",
        json.dumps(example),
        {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Idempotency-Key": "deploy-check-1",
        },
    )
    if response.status != 201:
        fail(f"the submission answered {response.status}: {body[:300]}")
    filed = json.loads(body)
    header = json.loads(base64.urlsafe_b64decode(filed["receipt"].split(".")[0] + "=="))
    _, jwks = get_json(browser, f"{args.public}/.well-known/jwks.json")
    if header.get("kid") not in [key["kid"] for key in jwks["keys"]]:
        fail("the receipt's key is not in the JWKS served through the proxy")
    print(f"filed {filed['dossier_code']} through the proxy; its receipt's key is in the JWKS")


if __name__ == "__main__":
    main()
