#!/usr/bin/env python3
"""Drives two gateway instances behind an nginx round-robin load balancer (`.ci/run multi`).

deploy/ci/multi starts the instances (A with the built-in simulator, B using A's simulator as
its issuer), one PostgreSQL, the load balancer and a back-office receiver, then runs this with
their addresses. Each check fails with a message naming it:

1. split login: a sign-in started on one instance completes on the other (both ways); the
   session then works through the load balancer;
2. replay: the callback replayed on the instance that took it is refused by its replay guard;
   replayed on the other instance it is refused because the provider's code is single use;
3. idempotency: a submission retried on the other instance with the same key answers the same
   receipt, and the store holds one dossier for the key;
4. bookings: tickets racing for the last slot, half through each instance, take exactly its
   free seats and no more;
5. rate limits: per instance, so a client gets the login burst once per instance through the
   load balancer (measured, asserted, documented in deploy/README.md);
6. load and a crash: submissions through the load balancer while instance B is killed by PID;
   every submission is accepted (POSTs lost in flight are retried with their key), the store
   holds exactly one dossier per key, and the back office receives every dossier exactly once.

Loopback only. Standard library only (psql for the store's counts).
"""

import argparse
import concurrent.futures
import html
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse

PROCEDURE = "1.001193"
MAX_HOPS = 20
TIMEOUT_SECONDS = 15
# Client addresses are given to the gateways in X-Forwarded-For (127.0.0.1, the load balancer
# and this client, is a trusted proxy): every simulated resident has one of its own, as in real
# life, so the per-address limits of one check do not spill into the next.
_next_address = [0]
_address_lock = threading.Lock()


def fresh_address():
    with _address_lock:
        _next_address[0] += 1
        n = _next_address[0]
    return f"10.77.{n // 250}.{n % 250 + 1}"


def fail(message):
    sys.stderr.write(f"multi_instance.py: {message}\n")
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


class Browser:
    """One resident's browser: cookies per host (a browser ignores the port, so the load
    balancer and both instances share them, as 127.0.0.1 does here), no automatic redirects."""

    def __init__(self, address=None):
        self.address = address or fresh_address()
        self.jars = {}

    def request(self, method, url, body=None, headers=None):
        parts = urllib.parse.urlsplit(url)
        if parts.hostname != "127.0.0.1" or parts.scheme != "http":
            fail(f"refusing to leave loopback: {url}")
        jar = self.jars.setdefault(parts.hostname, {})
        sent = {
            "User-Agent": "wardgate-multi-check",
            "Accept": "text/html",
            "X-Forwarded-For": self.address,
        }
        sent.update(headers or {})
        if jar:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
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

    def cookies(self):
        return dict(self.jars.get("127.0.0.1", {}))


def with_base(url, base):
    """`url` sent to the instance at `base` instead (same path and query)."""
    parts = urllib.parse.urlsplit(url)
    target = urllib.parse.urlsplit(base)
    return urllib.parse.urlunsplit((target.scheme, target.netloc, parts.path, parts.query, ""))


def sign_in(browser, start, callback_at, gateways):
    """Signs the level-2 persona in: `/login` on the instance at `start`, the callback sent to
    the instance at `callback_at`. Returns the callback URL and the cookies sent with it."""
    url = f"{start}/login?procedure={PROCEDURE}"
    for _ in range(MAX_HOPS):
        parts = urllib.parse.urlsplit(url)
        if parts.path.startswith("/interaction/") and parts.netloc not in gateways:
            response, body = browser.request("GET", url)
            action = re.search(r'<form method="post" action="([^"]+)"', body)
            check(response.status == 200 and action is not None and 'value="level2"' in body,
                  f"login: the simulator's interaction page answered {response.status}")
            response, body = browser.request(
                "POST",
                urllib.parse.urljoin(url, html.unescape(action.group(1))),
                urllib.parse.urlencode({"persona": "level2"}),
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
        else:
            response, body = browser.request("GET", url)
        location = response.getheader("Location")
        check(response.status in (301, 302, 303, 307, 308) and location,
              f"login: {parts.netloc}{parts.path} answered {response.status}: {body[:200]}")
        url = urllib.parse.urljoin(url, location)
        if urllib.parse.urlsplit(url).path == "/auth/callback":
            break
    else:
        fail(f"login took more than {MAX_HOPS} hops")
    callback = with_base(url, callback_at)
    sent_cookies = browser.cookies()
    response, body = browser.request("GET", callback)
    check(response.status in (302, 303),
          f"login: the callback on {callback_at} answered {response.status}: {body[:300]}")
    check(any("session" in name for name in browser.cookies()),
          f"login: the callback on {callback_at} set no session cookie")
    return callback, sent_cookies


def decision(browser, base):
    response, body = browser.request(
        "GET", f"{base}/api/procedures/{PROCEDURE}/decision", headers={"Accept": "application/json"}
    )
    check(response.status == 200, f"decision on {base} answered {response.status}")
    return json.loads(body).get("decision")


def example_dossier(base):
    response, body = Browser().request(
        "GET", f"{base}/api/procedures", headers={"Accept": "application/json"}
    )
    check(response.status == 200, f"/api/procedures answered {response.status}")
    return next(p["example"] for p in json.loads(body) if p["code"] == PROCEDURE)


def submit(browser, base, dossier, key):
    """POSTs the dossier with `key`; returns (status, body) or (None, error) on a lost
    connection."""
    try:
        response, body = browser.request(
            "POST",
            f"{base}/api/procedures/{PROCEDURE}/submissions",
            json.dumps(dossier),
            {
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Idempotency-Key": key,
            },
        )
    except (OSError, http.client.HTTPException) as error:
        return None, str(error)
    return response.status, body


def sql(query):
    """One value from the store (psql, the URL from WARDGATE_TEST_DATABASE_URL)."""
    result = subprocess.run(
        [os.environ.get("PSQL", "psql"), os.environ["WARDGATE_TEST_DATABASE_URL"],
         "--no-psqlrc", "--tuples-only", "--no-align", "--command", query],
        capture_output=True, text=True, timeout=30, check=False,
    )
    check(result.returncode == 0, f"psql failed: {result.stderr.strip()}")
    return result.stdout.strip()


def deliveries(receiver):
    connection = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(receiver).port,
                                            timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", "/counts")
        return json.loads(connection.getresponse().read())
    finally:
        connection.close()


def wait_for_deliveries(receiver, codes, bound_seconds, what):
    """Waits until the back office has every dossier of `codes`; fails on a repeat."""
    deadline = time.monotonic() + bound_seconds
    while True:
        counts = deliveries(receiver)
        repeated = {code: n for code, n in counts.items() if n != 1}
        check(not repeated, f"{what}: the back office received dossiers more than once: {repeated}")
        missing = [code for code in codes if code not in counts]
        if not missing:
            return counts
        if time.monotonic() > deadline:
            listed = ", ".join(f"'{code}'" for code in missing[:5])
            rows = sql("SELECT dossier_code, status, attempts, last_error, "
                       "(next_attempt_ns - extract(epoch from now())::bigint * 1000000000) "
                       f"/ 1000000000 AS due_in_s FROM outbox WHERE dossier_code IN ({listed})")
            activity = sql("SELECT pid, state, wait_event_type, left(query, 120) "
                           "FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")
            print(f"pg_stat_activity: {activity}")
            fail(f"{what}: {len(missing)} of {len(codes)} dossiers not delivered within "
                 f"{bound_seconds} s: {missing[:5]}; their outbox rows: {rows or 'none'}")
        time.sleep(1)


# ---------------------------------------------------------------------------------------------
# The checks.
# ---------------------------------------------------------------------------------------------


def check_split_login(args, gateways):
    residents = []
    for start, callback_at, names in ((args.a, args.b, "A -> B"), (args.b, args.a, "B -> A")):
        browser = Browser()
        callback, sent = sign_in(browser, start, callback_at, gateways)
        check(decision(browser, args.lb) == "online",
              f"split login {names}: the session is not level 2 through the load balancer")
        check(decision(browser, args.a) == "online" and decision(browser, args.b) == "online",
              f"split login {names}: the session does not open on both instances")
        residents.append((browser, callback, sent))
        print(f"split login {names}: started on one instance, completed on the other; the "
              "session opens on both and through the load balancer")
    return residents


def check_replay(args, residents):
    # The A -> B login: its callback was taken by B.
    _, callback, sent = residents[0]
    outcomes = {}
    for name, base in (("same instance (B)", args.b), ("other instance (A)", args.a)):
        replayer = Browser()
        replayer.jars["127.0.0.1"] = dict(sent)
        response, body = replayer.request("GET", with_base(callback, base))
        session = any("session" in n and n not in sent for n in replayer.cookies())
        check(not session, f"replay on the {name}: a replayed callback set a session cookie")
        check(response.status == 400,
              f"replay on the {name}: answered {response.status}, not 400: {body[:300]}")
        outcomes[name] = response.status
    print(f"replayed callback refused: {outcomes} (the other instance's guard does not know the "
          "flow; the provider refused the used code)")


def check_idempotency(args, residents, dossier):
    browser = residents[0][0]
    key = "multi-retry-1"
    first_status, first = submit(browser, args.a, dossier, key)
    check(first_status == 201, f"idempotency: the first submission on A answered {first_status}: "
                               f"{first[:300]}")
    again_status, again = submit(browser, args.b, dossier, key)
    check(again_status == 200,
          f"idempotency: the retry on B answered {again_status}, not 200: {again[:300]}")
    first, again = json.loads(first), json.loads(again)
    check(first["dossier_code"] == again["dossier_code"] and first["receipt"] == again["receipt"],
          "idempotency: the retry on B gave another dossier code or receipt")
    stored = sql(f"SELECT count(*) FROM submissions WHERE idempotency_key = '{key}'")
    check(stored == "1", f"idempotency: the store holds {stored} dossiers for the key, not 1")
    print(f"idempotency: retried on the other instance, same receipt for {first['dossier_code']}; "
          "one dossier stored")
    return first["dossier_code"]


def ticket(base):
    """A referral's ticket: (browser, code, point, token, [(start, free seats)])."""
    browser = Browser()
    response, body = browser.request("GET", f"{base}/procedures/{PROCEDURE}?in_person=1&lang=vi")
    check(response.status == 200, f"bookings: the referral page answered {response.status}")

    def field(name):
        found = re.search(rf'name="{name}" value="([^"]*)"', body)
        check(found is not None, f"bookings: the referral page has no `{name}` field")
        return html.unescape(found.group(1))

    select = body.split('<select id="start"', 1)[1].split("</select>", 1)[0]
    slots = [(html.unescape(v), int(n))
             for v, n in re.findall(r'<option value="([^"]+)"[^>]*>[^<]*\((\d+) ', select)]
    check(slots, "bookings: the referral page offers no slot")
    return browser, field("ticket"), field("point"), field("ticket_token"), slots


def check_bookings(args):
    contenders = 8
    tickets = [ticket(args.a if i % 2 == 0 else args.b) for i in range(contenders)]
    start, free = tickets[0][4][-1]
    point = tickets[0][2]
    check(free < contenders, f"bookings: the last slot has {free} seats, not fewer than "
                             f"{contenders}")

    def book(index):
        browser, code, point, token, _ = tickets[index]
        base = args.a if index % 2 == 0 else args.b
        response, _ = browser.request(
            "POST",
            f"{base}/procedures/{PROCEDURE}/book?lang=en",
            urllib.parse.urlencode(
                {"ticket": code, "point": point, "start": start, "ticket_token": token}),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        return response.status

    barrier = threading.Barrier(contenders)

    def race(index):
        barrier.wait(timeout=30)
        return book(index)

    with concurrent.futures.ThreadPoolExecutor(contenders) as pool:
        statuses = list(pool.map(race, range(contenders)))
    booked = statuses.count(303)
    check(booked == free and statuses.count(409) == contenders - free,
          f"bookings: {contenders} tickets racing for {free} seats answered {statuses}")
    active = sql(f"SELECT count(*) FROM bookings WHERE point = '{point}' AND cancelled_ns IS NULL")
    check(active == str(free), f"bookings: the store holds {active} bookings for {free} seats")
    print(f"bookings: {contenders} tickets through both instances raced for the last slot "
          f"({start}, {free} seats): {booked} booked, {contenders - booked} refused with 409; "
          f"{active} in the store")


def check_rate_limits(args, gateways):
    burst = args.login_burst

    def passes(base, tries):
        client = Browser()
        statuses = []
        for _ in range(tries):
            response, _ = client.request("GET", f"{base}/login?procedure={PROCEDURE}")
            statuses.append(response.status)
        return statuses

    direct = passes(args.a, 3 * burst)
    through = passes(args.lb, 3 * burst)
    direct_ok = sum(1 for s in direct if s in (302, 303))
    through_ok = sum(1 for s in through if s in (302, 303))
    check(direct_ok == burst and direct.count(429) == 2 * burst,
          f"rate limits: one instance let {direct_ok} of {3 * burst} logins pass, not the burst "
          f"{burst}: {direct}")
    instances = len(gateways) - 1
    check(through_ok == instances * burst and through.count(429) == (3 - instances) * burst,
          f"rate limits: the load balancer let {through_ok} logins pass, not {instances} x "
          f"{burst}: {through}")
    print(f"rate limits are per instance: one address gets {direct_ok} logins from one instance "
          f"and {through_ok} ({instances} x the burst {burst}) through the load balancer")


def check_outbox(args, residents, dossier):
    """Dossiers filed on both instances, each instance running an outbox worker: the back
    office receives every one exactly once."""
    codes = []
    for index in range(20):
        browser = residents[index % 2][0]
        base = args.a if index % 2 == 0 else args.b
        status, body = submit(browser, base, dossier, f"multi-outbox-{index}")
        check(status == 201, f"outbox: submission {index} answered {status}: {body[:300]}")
        codes.append(json.loads(body)["dossier_code"])
    counts = wait_for_deliveries(args.receiver, codes, args.delivery_bound, "outbox")
    print(f"outbox: {len(codes)} dossiers filed on both instances, each delivered exactly once "
          f"({len(counts)} received so far)")
    return codes


def check_load_and_crash(args, dossier, earlier_codes):
    residents = 4
    total = 40
    browsers = []
    for _ in range(residents):
        browser = Browser()
        sign_in(browser, args.lb, args.lb, set())
        browsers.append(browser)
    stored_before = int(sql("SELECT count(*) FROM submissions"))
    accepted = {}
    lost_in_flight = []
    lock = threading.Lock()
    done = threading.Event()

    def file(index):
        key = f"multi-load-{index}"
        browser = browsers[index % residents]
        for attempt in range(1, 11):
            status, body = submit(browser, args.lb, dossier, key)
            if status in (200, 201):
                with lock:
                    accepted[key] = json.loads(body)["dossier_code"]
                    if len(accepted) >= total // 4:
                        done.set()
                return
            # A POST in flight on the killed instance: nginx does not resend it to the other
            # (it is not idempotent), so the client retries it with the same key.
            with lock:
                lost_in_flight.append((key, attempt, status))
            time.sleep(0.5)
        fail(f"load: {key} was never accepted: {lost_in_flight[-3:]}")

    def kill_b():
        done.wait(timeout=60)
        os.kill(args.kill_pid, signal.SIGKILL)
        print(f"load: killed instance B (pid {args.kill_pid}) after "
              f"{len(accepted)} submissions", flush=True)

    killer = threading.Thread(target=kill_b)
    killer.start()
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(file, range(total)))
    killer.join()
    check(len(accepted) == total, f"load: {len(accepted)} of {total} submissions accepted")
    stored = int(sql("SELECT count(*) FROM submissions")) - stored_before
    check(stored == total, f"load: the store holds {stored} new dossiers for {total} keys")
    for _ in range(20):
        response, _ = Browser().request("GET", f"{args.lb}/healthz")
        check(response.status == 200,
              f"load: with B dead the load balancer answered {response.status}")
    codes = list(accepted.values()) + list(earlier_codes)
    counts = wait_for_deliveries(args.receiver, codes, args.delivery_bound, "load")
    in_store = int(sql("SELECT count(*) FROM submissions"))
    check(len(counts) == in_store,
          f"load: the back office received {len(counts)} dossiers; the store holds {in_store}")
    pending = sql("SELECT count(*) FROM outbox WHERE status <> 'delivered'")
    check(pending == "0", f"load: {pending} outbox entries are not marked delivered")
    print(f"load: {total} submissions through the load balancer, B killed mid-load; "
          f"{len(lost_in_flight)} attempts lost in flight and retried with their key; "
          f"{stored} dossiers stored, each delivered exactly once ({len(counts)} in all); "
          "the load balancer kept serving")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lb", required=True, help="http://127.0.0.1:<port> (nginx)")
    parser.add_argument("--a", required=True, help="instance A, directly")
    parser.add_argument("--b", required=True, help="instance B, directly")
    parser.add_argument("--receiver", required=True, help="the back-office receiver")
    parser.add_argument("--kill-pid", type=int, required=True, help="instance B's pid")
    parser.add_argument("--login-burst", type=int, required=True)
    parser.add_argument("--delivery-bound", type=int, required=True,
                        help="seconds the outbox may take (lease + poll interval + margin)")
    args = parser.parse_args()
    gateways = {urllib.parse.urlsplit(u).netloc for u in (args.lb, args.a, args.b)}

    residents = check_split_login(args, gateways)
    check_replay(args, residents)
    dossier = example_dossier(args.lb)
    retried = check_idempotency(args, residents, dossier)
    check_bookings(args)
    check_rate_limits(args, gateways)
    filed = check_outbox(args, residents, dossier) + [retried]
    check_load_and_crash(args, dossier, filed)
    print("multi-instance check passed")


if __name__ == "__main__":
    main()
