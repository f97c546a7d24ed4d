#!/usr/bin/env python3
"""Instructions per request of the example gateway and of the bare baseline, under callgrind.

Wall-clock rates move with whatever else runs on the machine; the instructions a server executes
per request do not. This starts the release example gateway (its built-in provider simulator)
and the bare baseline (benches/load/bare.rs) under `valgrind --tool=callgrind
--instr-atstart=no`, signs the level-2 persona in at the gateway (signin.py), and for each route
sends warm-up requests, then switches instrumentation on for exactly N keep-alive requests
(`callgrind_control -i on`, then a dump). It prints user-space instructions per request of the
server process (all its threads; no kernel, no client) and keeps the dumps for
callgrind_annotate.

    python3 benches/load/instructions.py --target-dir "$CARGO_TARGET_DIR" --out /tmp/ir

Needs the release builds of `ward_gateway` and `bare_baseline` (as benches/load/run builds
them), valgrind and python3. Loopback only; every process started here is stopped by its PID.
"""

import argparse
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

PROCEDURE = "1.001193"
ROUTES = [
    ("gated page", f"/procedures/{PROCEDURE}", True),
    ("decision API", f"/api/procedures/{PROCEDURE}/decision", True),
    ("ungated static route", "/assets/style.css", False),
]


def fail(message):
    sys.stderr.write(f"instructions.py: {message}\n")
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(port, path, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    fail(f"127.0.0.1:{port}{path} did not answer within {seconds} s")


def callgrind(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, capture_output=True)


def total_instructions(dump):
    """The `totals:` line of a callgrind dump: Ir of every thread. (Not `summary:`, which
    callgrind 3.19 gets wrong in the dumps after the first.)"""
    with open(dump, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    fail(f"no totals in {dump}")


def measure(pid, out_dir, label, port, path, cookie, warmup, count):
    headers = {"Cookie": cookie} if cookie else {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def get():
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 200:
            fail(f"{path} answered {response.status}")

    for _ in range(warmup):
        get()
    before = set(os.listdir(out_dir))
    callgrind(pid, "-i", "on")
    for _ in range(count):
        get()
    callgrind(pid, "-d", label)
    callgrind(pid, "-i", "off")
    connection.close()
    dumps = sorted(set(os.listdir(out_dir)) - before)
    if not dumps:
        fail(f"no callgrind dump for {label}")
    return sum(total_instructions(os.path.join(out_dir, d)) for d in dumps), dumps


def start(command, out_dir, name, env):
    log = open(os.path.join(out_dir, f"{name}.log"), "w")
    return subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            "--instr-atstart=no",
            f"--callgrind-out-file={out_dir}/{name}.%p",
            *command,
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env=env,
    )


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-dir", default=os.environ.get("CARGO_TARGET_DIR", "target"))
    parser.add_argument("--out", required=True, help="directory for the callgrind dumps")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    release = os.path.join(args.target_dir, "release", "examples")
    gateway_bin = os.path.join(release, "ward_gateway")
    bare_bin = os.path.join(release, "bare_baseline")
    for binary in (gateway_bin, bare_bin):
        if not os.access(binary, os.X_OK):
            fail(f"no release build at {binary}")
    os.makedirs(args.out, exist_ok=True)
    data = tempfile.mkdtemp(prefix="wardgate-ir.")
    processes = []
    results = []
    try:
        port = free_port()
        env = dict(os.environ)
        env.update(
            WARDGATE_BIND=f"127.0.0.1:{port}",
            WARDGATE_PUBLIC_URL=f"http://127.0.0.1:{port}",
            WARDGATE_DATA_DIR=data,
        )
        gateway = start([gateway_bin], args.out, "gateway", env)
        processes.append(gateway)
        wait_http(port, "/healthz", 180)
        here = os.path.dirname(os.path.abspath(__file__))
        cookie = subprocess.run(
            [
                sys.executable,
                os.path.join(here, "signin.py"),
                "--start",
                f"http://127.0.0.1:{port}/login?procedure={PROCEDURE}",
                "--persona",
                "level2",
                "--cookie",
                "wardgate-session",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout.strip()
        style = os.path.join(data, "style.css")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request("GET", "/assets/style.css")
        with open(style, "wb") as f:
            f.write(connection.getresponse().read())
        connection.close()
        for label, path, gated in ROUTES:
            ir, dumps = measure(
                gateway.pid, args.out, label, port, path, cookie if gated else "",
                args.warmup, args.requests,
            )
            results.append((f"gateway: {label}", ir, dumps))
        stop(gateway)

        bare_port = free_port()
        bare = start([bare_bin, f"127.0.0.1:{bare_port}", style], args.out, "bare", dict(os.environ))
        processes.append(bare)
        wait_http(bare_port, "/assets/style.css", 120)
        ir, dumps = measure(
            bare.pid, args.out, "bare", bare_port, "/assets/style.css", "",
            args.warmup, args.requests,
        )
        results.append(("bare axum, no layers: same bytes", ir, dumps))
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(data, ignore_errors=True)

    print(f"user-space instructions per request ({args.requests} keep-alive requests, "
          f"after {args.warmup} warm-up requests; callgrind)")
    for label, ir, dumps in results:
        print(f"{label:<40} {ir / args.requests / 1000:8.1f} k   ({', '.join(dumps)})")


if __name__ == "__main__":
    main()
