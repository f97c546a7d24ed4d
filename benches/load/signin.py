#!/usr/bin/env python3
"""Signs a persona in through a relying party's login flow, playing the browser's part.

Used by benches/load/run: it starts at the relying party's protected URL (or its login URL),
follows every redirect across the relying party and the oidc-provider of interop/provider.mjs,
picks the persona on the provider's interaction page (oidc-provider's or the built-in
simulator's), and stops when the relying party answers
200 at a URL of its own. It prints one line, the `Cookie` header value carrying the relying
party's cookies (named by --cookie), for wrk.

Loopback only: any URL off 127.0.0.1 is refused. Standard library only.

    signin.py --start http://127.0.0.1:8080/login?procedure=1.001193 \
              --persona level2 --cookie wardgate-session
"""

import argparse
import html
import http.client
import re
import sys
import urllib.parse

MAX_HOPS = 20
TIMEOUT_SECONDS = 10


def fail(message):
    sys.stderr.write(f"signin.py: {message}\n")
    sys.exit(1)


class Browser:
    """A cookie jar per host:port and plain HTTP/1.1 requests without automatic redirects."""

    def __init__(self):
        self.jars = {}

    def request(self, method, url, form=None):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or parts.hostname != "127.0.0.1":
            fail(f"refusing to leave loopback http: {url}")
        jar = self.jars.setdefault(parts.netloc, {})
        headers = {"User-Agent": "wardgate-load-signin", "Accept": "text/html"}
        if jar:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            content = response.read()
        finally:
            connection.close()
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                pair = value.split(";", 1)[0]
                name, _, cookie = pair.partition("=")
                attributes = value.lower()
                # A cookie cleared by the server (expired or max-age=0) leaves the jar.
                if "max-age=0" in attributes or "expires=thu, 01 jan 1970" in attributes:
                    jar.pop(name.strip(), None)
                else:
                    jar[name.strip()] = cookie.strip()
        return response.status, response.getheader("Location"), content.decode("utf-8", "replace")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", required=True, help="the relying party URL to begin at")
    parser.add_argument("--persona", default="level2", help="persona on the interaction page")
    parser.add_argument(
        "--cookie",
        action="append",
        required=True,
        help="name (or name prefix ending in *) of a relying-party cookie to print; repeatable",
    )
    args = parser.parse_args()

    browser = Browser()
    relying_party = urllib.parse.urlsplit(args.start).netloc
    url = args.start
    trail = []
    for _ in range(MAX_HOPS):
        trail.append(urllib.parse.urlsplit(url).path)
        parts = urllib.parse.urlsplit(url)
        if parts.path.startswith("/interaction/") and parts.netloc != relying_party:
            status, location, body = browser.request("GET", url)
            if status != 200 or f'value="{args.persona}"' not in body:
                fail(f"interaction page {parts.path} answered {status} without {args.persona}")
            # The form's own action: oidc-provider posts to /interaction/<uid>/login, the
            # built-in simulator to /interaction/<id>.
            action = re.search(r'<form method="post" action="([^"]+)"', body)
            if action is None:
                fail(f"interaction page {parts.path} has no sign-in form")
            login = urllib.parse.urljoin(url, html.unescape(action.group(1)))
            status, location, body = browser.request("POST", login, {"persona": args.persona})
        else:
            status, location, body = browser.request("GET", url)
        if status in (301, 302, 303, 307, 308) and location:
            url = urllib.parse.urljoin(url, location)
            continue
        if status == 200 and parts.netloc == relying_party:
            break
        fail(f"{parts.path} answered {status} (trail: {trail}): {body[:300]}")
    else:
        fail(f"sign-in took more than {MAX_HOPS} hops: {trail}")

    jar = browser.jars.get(relying_party, {})
    chosen = []
    for name, value in jar.items():
        for wanted in args.cookie:
            if name == wanted or (wanted.endswith("*") and name.startswith(wanted[:-1])):
                chosen.append(f"{name}={value}")
                break
    if not chosen:
        fail(f"signed in, but the relying party set none of {args.cookie} (it set {sorted(jar)})")
    print("; ".join(chosen))


if __name__ == "__main__":
    main()
