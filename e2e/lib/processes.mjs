// The processes the end-to-end tests start: the example gateway and the interoperability
// provider. Each is started on a free loopback port, waited for until it prints its ready line,
// and stopped by its own PID, even when a test fails or the run is interrupted.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, existsSync, createWriteStream } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the parent of `e2e/`). */
export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
/** Where screenshots, logs and the accessibility report go (gitignored). */
export const ARTIFACTS = join(ROOT, 'e2e', 'screenshots');

/** How long a process may take to print its ready line. */
const READY_TIMEOUT_MS = 30_000;
/** How long a process may take to exit after SIGTERM before it gets SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** How many times a start is retried when the port picked was taken in the meantime. */
const START_ATTEMPTS = 3;
/** Most characters of a process's output kept for failure messages. */
const OUTPUT_LIMIT = 64 * 1024;

/** Every child still running, so that a crash or a signal can still stop it. */
const running = new Set();

function killAllNow() {
  for (const child of running) {
    try {
      process.kill(child.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  running.clear();
}

process.on('exit', killAllNow);
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    killAllNow();
    process.exit(128 + (signal === 'SIGINT' ? 2 : 15));
  });
}

/** A TCP port on 127.0.0.1 that nothing listened on a moment ago. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolvePort(port));
    });
  });
}

/** A random URL-safe secret. */
export function randomSecret() {
  return randomBytes(32).toString('base64url');
}

/** The environment without any `WARDGATE_*` variable of the caller's, plus `extra`. */
function cleanEnv(extra) {
  const env = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('WARDGATE_')) {
      env[key] = value;
    }
  }
  return { ...env, ...extra };
}

/**
 * A started process: `pid`, `output()` (what it printed so far, for failure messages) and
 * `stop()` (SIGTERM to its PID, SIGKILL after a grace period; idempotent).
 */
class Service {
  constructor(name, child, logPath) {
    this.name = name;
    this.child = child;
    this.pid = child.pid;
    this.text = '';
    this.exited = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        running.delete(child);
        this.exitStatus = signal ?? code;
        resolveExit();
      });
    });
    const log = logPath ? createWriteStream(logPath) : undefined;
    const keep = (chunk) => {
      log?.write(chunk);
      if (this.text.length < OUTPUT_LIMIT) {
        this.text += chunk.toString('utf8');
      }
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.exited.then(() => log?.end());
  }

  output() {
    return this.text;
  }

  /** Resolves with the first line of standard output that `match` accepts (its result). */
  waitFor(match, what) {
    return new Promise((resolveLine, reject) => {
      let pending = '';
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.name} did not print ${what} within ${READY_TIMEOUT_MS} ms`));
      }, READY_TIMEOUT_MS);
      const onData = (chunk) => {
        pending += chunk.toString('utf8');
        const lines = pending.split('\n');
        pending = lines.pop();
        for (const line of lines) {
          const found = match(line.trimEnd());
          if (found !== undefined) {
            cleanup();
            resolveLine(found);
            return;
          }
        }
      };
      const onExit = () => {
        cleanup();
        reject(new Error(`${this.name} exited (status ${this.exitStatus}) before it printed ${what}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout.off('data', onData);
        this.child.off('exit', onExit);
      };
      this.child.stdout.on('data', onData);
      this.child.once('exit', onExit);
    });
  }

  async stop() {
    if (!running.has(this.child)) {
      return;
    }
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      return;
    }
    const timer = new Promise((resolveTimer) => setTimeout(resolveTimer, STOP_GRACE_MS, 'timeout'));
    if ((await Promise.race([this.exited, timer])) === 'timeout') {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // Gone in the meantime.
      }
      await this.exited;
    }
  }
}

function launch(name, command, args, { env, cwd, logPath }) {
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('error', () => running.delete(child));
  return new Service(name, child, logPath);
}

/**
 * Starts `node interop/provider.mjs` (oidc-provider 9) with every client registered for exactly
 * `redirectUri`. Resolves with `{ service, issuer, clientId, clientSecret }`; the issuer is
 * exactly what the provider prints after `READY `.
 */
export async function startProvider(redirectUri, logPath) {
  const script = join(ROOT, 'interop', 'provider.mjs');
  if (!existsSync(join(ROOT, 'interop', 'node_modules', 'oidc-provider'))) {
    throw new Error('the oidc-provider npm package is missing: run `npm ci --prefix interop`');
  }
  const failures = [];
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt += 1) {
    const port = await freePort();
    const clientSecret = randomSecret();
    const service = launch('oidc-provider', process.execPath, [script], {
      cwd: join(ROOT, 'interop'),
      logPath,
      env: cleanEnv({
        PORT: String(port),
        ISSUER: '',
        RP_REDIRECT_URIS: redirectUri,
        RS256_CLIENT_SECRET: clientSecret,
        POST_CLIENT_SECRET: randomSecret(),
        CLIENT_AUTH_METHODS: '',
      }),
    });
    try {
      const issuer = await service.waitFor(
        (line) => (line.startsWith('READY ') ? line.slice('READY '.length) : undefined),
        '`READY <issuer>`',
      );
      return { service, issuer, clientId: 'wardgate-rs256', clientSecret };
    } catch (error) {
      await service.stop();
      failures.push(`${error.message}\n${service.output()}`);
    }
  }
  throw new Error(`oidc-provider did not start:\n${failures.join('\n---\n')}`);
}

/** The secret the e2e back office signs its status reports with (hex, 32 bytes). */
export const BACKOFFICE_STATUS_KEY = '2a'.repeat(32);

/**
 * Starts the example gateway (`WARDGATE_GATEWAY_BIN`) on a free loopback port with a fresh data
 * directory. `providerEnv` holds the `WARDGATE_*` variables of an external provider; without it
 * the gateway starts its built-in provider simulator. `port` may be given when the provider had
 * to know the redirect URI first. Resolves with `{ service, url }`.
 */
export async function startGateway({ port, providerEnv = {}, logPath } = {}) {
  const binary = process.env.WARDGATE_GATEWAY_BIN;
  if (!binary) {
    throw new Error(
      'set WARDGATE_GATEWAY_BIN to the example gateway binary ' +
        '(cargo build --all-features --example ward_gateway; target/debug/examples/ward_gateway)',
    );
  }
  if (!existsSync(binary)) {
    throw new Error(`WARDGATE_GATEWAY_BIN: no file at \`${binary}\``);
  }
  const failures = [];
  for (let attempt = 1; attempt <= (port ? 1 : START_ATTEMPTS); attempt += 1) {
    const chosen = port ?? (await freePort());
    const url = `http://127.0.0.1:${chosen}`;
    const dataDir = mkdtempSync(join(tmpdir(), 'wardgate-e2e-data-'));
    const service = launch('gateway', binary, [], {
      cwd: ROOT,
      logPath,
      env: cleanEnv({
        RUST_LOG: process.env.RUST_LOG ?? 'info',
        NO_COLOR: '1',
        WARDGATE_BIND: `127.0.0.1:${chosen}`,
        WARDGATE_PUBLIC_URL: url,
        WARDGATE_DATA_DIR: dataDir,
        WARDGATE_BACKOFFICE_STATUS_KEYS: BACKOFFICE_STATUS_KEY,
        ...providerEnv,
      }),
    });
    service.exited.then(() => rmSync(dataDir, { recursive: true, force: true }));
    try {
      const printed = await service.waitFor((line) => {
        const match = /^wardgate ward portal: (\S+)$/.exec(line);
        return match ? match[1] : undefined;
      }, 'its ready line `wardgate ward portal: <url>`');
      return { service, url: printed.replace(/\/$/, '') };
    } catch (error) {
      await service.stop();
      failures.push(`${error.message}\n${service.output()}`);
    }
  }
  throw new Error(`the gateway did not start:\n${failures.join('\n---\n')}`);
}
