#!/usr/bin/env python3
"""Drives residents through nginx `auth_request` in front of the gateway and an echoing upstream.

Used by deploy/ci/auth_request: nginx runs the configuration of src/manual/gateway_mode.md, so
each check here is a claim of that page:

1. an anonymous resident asking for the gated page is sent (302) to the login URL that
   `/auth/check` names in `X-Wardgate-Login`;
2. after signing in at level 2 (the simulator's `level2` persona) the resident lands on the
   upstream page, which received `X-Wardgate-Level: 2`, the subject pseudonym, the procedure and
   an `X-Wardgate-Assertion` that verifies (EdDSA, with openssl) against the JWKS nginx serves;
   identity headers the client forged are replaced;
3. a level-1 resident (the `level1` persona) is sent (302) to the referral page that
   `/auth/check` names in `X-Wardgate-Referral`, and never reaches the upstream.

Loopback only. Standard library and the openssl command. Exits non-zero naming what failed.
"""

import argparse
import base64
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from through_proxy import Browser  # noqa: E402  (the deploy check's cookie-keeping client)

PROCEDURE = "1.001193"
PAGE = "/nop-ho-so/khai-sinh/form?step=1"
MAX_HOPS = 20
# Ed25519 SubjectPublicKeyInfo, up to the 32 key bytes (RFC 8410).
ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")


def fail(message):
    sys.stderr.write(f"auth_request.py: {message}\n")
    sys.exit(1)


def redirects_to(response, public, target):
    """Whether `response` is nginx's 302 to `target` (nginx makes the location absolute)."""
    location = response.getheader("Location") or ""
    return response.status == 302 and urllib.parse.urljoin(f"{public}/", location) == urllib.parse.urljoin(f"{public}/", target)


def b64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def check(gateway, original_uri, cookies):
    """What the gateway's /auth/check says directly (nginx's subrequest, replayed)."""
    headers = {"X-Original-URI": original_uri}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    response, _ = Browser(None).request(
        "GET", f"{gateway}/auth/check?procedure={PROCEDURE}", headers=headers
    )
    return response


def follow(browser, public, url, persona):
    """Follows redirects from `url`, choosing `persona` at the simulator; returns the first
    answer from nginx that is not a redirect, its body and the trail."""
    nginx = urllib.parse.urlsplit(public).netloc
    trail = []
    for _ in range(MAX_HOPS):
        parts = urllib.parse.urlsplit(url)
        trail.append(url)
        if parts.path.startswith("/interaction/") and parts.netloc != nginx:
            response, body = browser.request("GET", url)
            action = re.search(r'<form method="post" action="([^"]+)"', body)
            if response.status != 200 or action is None or f'value="{persona}"' not in body:
                fail(f"the simulator's interaction page answered {response.status}")
            response, body = browser.request(
                "POST",
                urllib.parse.urljoin(url, html.unescape(action.group(1))),
                urllib.parse.urlencode({"persona": persona}),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response, body = browser.request("GET", url)
        location = response.getheader("Location")
        if response.status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if parts.netloc == nginx:
            return response, body, trail
        fail(f"{url} answered {response.status} (trail: {trail})")
    fail(f"more than {MAX_HOPS} hops: {trail}")


def verify_assertion(jws, jwks):
    """The claims of `jws` once its EdDSA signature verifies with the JWKS key it names."""
    header_b64, payload_b64, signature_b64 = jws.split(".")
    header = json.loads(b64url(header_b64))
    if header.get("alg") != "EdDSA" or header.get("typ") != "wardgate-assertion+jwt":
        fail(f"the assertion's header is {header}")
    keys = [k for k in jwks["keys"] if k.get("kid") == header.get("kid")]
    if len(keys) != 1 or keys[0].get("crv") != "Ed25519":
        fail(f"the JWKS has no Ed25519 key {header.get('kid')}")
    der = ED25519_SPKI_PREFIX + b64url(keys[0]["x"])
    with tempfile.TemporaryDirectory() as work:
        key = os.path.join(work, "key.pem")
        with open(key, "w", encoding="ascii") as pem:
            pem.write("-----BEGIN PUBLIC KEY-----\n")
            pem.write(base64.b64encode(der).decode() + "\n-----END PUBLIC KEY-----\n")

        def verifies(signed, signature):
            with open(os.path.join(work, "signed"), "wb") as out:
                out.write(signed)
            with open(os.path.join(work, "signature"), "wb") as out:
                out.write(signature)
            result = subprocess.run(
                ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key, "-rawin",
                 "-in", os.path.join(work, "signed"), "-sigfile", os.path.join(work, "signature")],
                capture_output=True, check=False,
            )
            return result.returncode == 0

        signed = f"{header_b64}.{payload_b64}".encode()
        if not verifies(signed, b64url(signature_b64)):
            fail("the assertion's signature does not verify with the JWKS key")
        # The same check refuses a payload changed after signing (it can fail).
        tampered = json.loads(b64url(payload_b64))
        tampered["level"] = 1
        forged = base64.urlsafe_b64encode(json.dumps(tampered).encode()).rstrip(b"=")
        if verifies(header_b64.encode() + b"." + forged, b64url(signature_b64)):
            fail("a tampered assertion verified: the signature check checks nothing")
    return json.loads(b64url(payload_b64))


def anonymous_is_sent_to_sign_in(public, gateway):
    response, _ = Browser(None).request("GET", f"{public}{PAGE}")
    said = check(gateway, PAGE, None)
    login = said.getheader("X-Wardgate-Login")
    if said.status != 401 or not login:
        fail(f"/auth/check answered {said.status} without X-Wardgate-Login for an anonymous resident")
    if not redirects_to(response, public, login):
        fail(f"anonymous: nginx answered {response.status} to {response.getheader('Location')}, not 302 to {login}")
    if not login.startswith(f"/auth/login?procedure={PROCEDURE}&") or "return_to=" not in login:
        fail(f"the login URL {login} does not sign in for the procedure and return")
    print(f"anonymous: 302 to {login}")
    return login


def level_2_reaches_the_upstream(public, login):
    browser = Browser(None)
    response, body, trail = follow(browser, public, f"{public}{login}", "level2")
    if response.status != 200 or "x-wardgate-assertion" not in body:
        fail(f"level 2: ended on {response.status}, not the upstream page (trail: {trail}): {body[:300]}")
    echo = json.loads(body)
    if echo["path"] != PAGE:
        fail(f"level 2: returned to {echo['path']}, not {PAGE}")
    steps = [urllib.parse.urlsplit(url) for url in trail]
    print(f"level 2 signed in and returned to the upstream: {' -> '.join(f'{u.netloc}{u.path}' for u in steps)}")

    # Again, with forged identity headers: nginx replaces every one of them.
    response, body = browser.request(
        "GET",
        f"{public}{PAGE}",
        headers={
            "X-Wardgate-Level": "1",
            "X-Wardgate-Subject": "forged",
            "X-Wardgate-Procedure": "forged",
            "X-Wardgate-Assertion": "forged",
        },
    )
    if response.status != 200:
        fail(f"level 2, signed in: nginx answered {response.status}")
    headers = json.loads(body)["headers"]
    if headers.get("x-wardgate-level") != "2" or headers.get("x-wardgate-procedure") != PROCEDURE:
        fail(f"level 2: the upstream got level {headers.get('x-wardgate-level')!r}, procedure {headers.get('x-wardgate-procedure')!r}")
    if "forged" in (headers.get("x-wardgate-subject"), headers.get("x-wardgate-assertion")):
        fail("a forged identity header reached the upstream")

    _, jwks = browser.request("GET", f"{public}/.well-known/jwks.json", headers={"Accept": "application/json"})
    claims = verify_assertion(headers["x-wardgate-assertion"], json.loads(jwks))
    origin = public.rstrip("/")
    expected = {"level": 2, "procedure": PROCEDURE, "sub": headers["x-wardgate-subject"], "aud": origin}
    for name, value in expected.items():
        if claims.get(name) != value:
            fail(f"the assertion's {name} is {claims.get(name)!r}, not {value!r}")
    if claims["iss"].rstrip("/") != origin or not 60 <= claims["exp"] - claims["iat"] <= 120:
        fail(f"the assertion's iss or lifetime is wrong: {claims}")
    print(f"level 2: upstream got level 2, a subject and an assertion verified with key of the JWKS (aud {claims['aud']})")


def level_1_gets_the_referral(public, gateway, login):
    browser = Browser(None)
    response, body, trail = follow(browser, public, f"{public}{login}", "level1")
    # The provider cannot reach level 2 for this account; the callback returns to the gated
    # page with the outcome, where nginx's check sends the resident to the referral.
    returned = [url for url in trail if urllib.parse.urlsplit(url).path == urllib.parse.urlsplit(PAGE).path]
    if len(returned) != 1 or "outcome=level_unreachable" not in returned[0]:
        fail(f"level 1: the callback did not return to the gated page with the outcome (trail: {trail})")
    if '"headers": {' in body:
        fail(f"level 1: the upstream page was reached (trail: {trail})")
    if response.status != 200 or '<html lang="vi"' not in body or "Nơi nộp hồ sơ" not in body:
        fail(f"level 1: ended on {response.status}, not the referral page (trail: {trail}): {body[:300]}")
    gated = urllib.parse.urlsplit(returned[0])
    gated = f"{gated.path}?{gated.query}"
    said = check(gateway, gated, browser.jars[urllib.parse.urlsplit(public).netloc])
    referral = said.getheader("X-Wardgate-Referral")
    if said.status != 403 or not referral:
        fail(f"/auth/check answered {said.status} without X-Wardgate-Referral for a level-1 resident")
    response, _ = browser.request("GET", f"{public}{gated}")
    if not redirects_to(response, public, referral):
        fail(f"level 1: nginx answered {response.status} to {response.getheader('Location')}, not 302 to {referral}")
    if urllib.parse.urlsplit(trail[-1]).path != urllib.parse.urlsplit(referral).path:
        fail(f"level 1: ended on {trail[-1]}, not the referral {referral}")
    print(f"level 1: 302 to the referral page {referral}, which names where to file in person")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--public", required=True, help="http://127.0.0.1:<port> (nginx)")
    parser.add_argument("--gateway", required=True, help="http://127.0.0.1:<port> (the gateway itself)")
    args = parser.parse_args()
    login = anonymous_is_sent_to_sign_in(args.public, args.gateway)
    level_2_reaches_the_upstream(args.public, login)
    level_1_gets_the_referral(args.public, args.gateway, login)


if __name__ == "__main__":
    main()
