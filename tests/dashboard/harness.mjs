// Helpers of the dashboard tests: the real `millrace serve`, its CLI and its API.
// Every wait is bounded; the server listens on 127.0.0.1 only.

import { spawn, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const dashboardDir = path.join(repoRoot, 'host/server/src/dashboard');

const cacheTarget = path.join(os.homedir(), '.cache/millrace/target');

/** The binary under test: $MILLRACE, else the debug build in the target folder. */
export function millraceBinary() {
  return process.env.MILLRACE ?? path.join(process.env.CARGO_TARGET_DIR ?? cacheTarget, 'debug/millrace');
}

export function screenshotDir() {
  return path.join(process.env.CARGO_TARGET_DIR ?? path.join(repoRoot, 'target'), 'dashboard-screenshots');
}

/** Polls `check` until it returns a truthy value, or fails after `timeout` ms. */
export async function waitFor(check, { timeout = 15_000, interval = 200, what = 'a condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

/** Starts `millrace serve` on a free port with a fresh data folder and a random admin token. */
export async function startServer(binary, adminToken) {
  if (!existsSync(binary)) throw new Error(`no millrace binary at ${binary}; build it or set MILLRACE`);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'millrace-dashboard-'));
  const child = spawn(binary, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir], {
    env: { ...process.env, MILLRACE_ADMIN_TOKEN: adminToken },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server did not say where it serves within 30 s:\n${stderr}`)), 30_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk).slice(-20_000);
      const match = /serving on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code ?? signal}) before serving:\n${stderr}`));
    });
  });
  // Whatever happens to the test process, the server does not outlive it.
  const killOnExit = () => child.kill('SIGKILL');
  process.on('exit', killOnExit);
  return {
    base,
    dataDir,
    log: () => stderr,
    async stop() {
      process.off('exit', killOnExit);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        const grace = new Promise((resolve) => setTimeout(() => resolve('timeout'), 10_000));
        if ((await Promise.race([exited, grace])) === 'timeout') {
          child.kill('SIGKILL');
          await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** One API call; resolves to {status, body} (parsed JSON when it is JSON). */
export async function call(base, token, method, route, { json, text, contentType } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (text !== undefined) {
    headers['Content-Type'] = contentType ?? 'application/jsonl';
    body = text;
  }
  const response = await fetch(base + route, { method, headers, body, signal: AbortSignal.timeout(60_000) });
  const payload = await response.text();
  let parsed = payload;
  try {
    parsed = JSON.parse(payload);
  } catch {
    // JSON Lines or plain text: keep the text.
  }
  return { status: response.status, body: parsed };
}

/** Like `call`, but fails unless the answer is a 2xx. */
export async function ok(base, token, method, route, options) {
  const answer = await call(base, token, method, route, options);
  if (answer.status < 200 || answer.status > 299) {
    throw new Error(`${method} ${route} answered ${answer.status}: ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

function runCli(binary, args, env, timeout) {
  return new Promise((resolve, reject) => {
    execFile(binary, args, { env: { ...process.env, ...env }, timeout, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`millrace ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Where a built example plugin may already be, so no test has to run cargo. */
function builtComponent(crate) {
  const file = `${crate.replaceAll('-', '_')}.wasm`;
  const targets = [process.env.MILLRACE_PLUGIN_WASM_DIR, process.env.CARGO_TARGET_DIR, cacheTarget,
    path.join(repoRoot, 'plugins/target')].filter(Boolean);
  return targets
    .flatMap((dir) => [path.join(dir, file), path.join(dir, 'wasm32-wasip2/release', file)])
    .find((candidate) => existsSync(candidate));
}

/** Pushes example plugin `crate` as `name` with the CLI: a built component when one is
 * found, else the crate folder (which the CLI builds, once). Returns the CLI's answer
 * and the component file pushed. */
export async function pushExample(binary, base, token, name, crate, kind) {
  const env = { MILLRACE_SERVER: base, MILLRACE_TOKEN: token };
  const built = builtComponent(crate);
  if (built) {
    try {
      return { pushed: JSON.parse(await runCli(binary, ['plugin', 'push', name, built, '--kind', kind], env, 60_000)), file: built };
    } catch {
      // Built for another version of the host, perhaps: build it from source instead.
    }
  }
  const folder = path.join(repoRoot, 'plugins', crate);
  const pushed = JSON.parse(await runCli(binary, ['plugin', 'push', name, folder, '--kind', kind], env, 900_000));
  return { pushed, file: builtComponent(crate) };
}

/** Pushes `file` again with a custom section appended: the same code under a new sha256,
 * so a second version of a CombineFn with the same accumulator. */
export async function pushVariant(binary, base, token, name, file, kind, label) {
  const variant = path.join(os.tmpdir(), `millrace-dashboard-${process.pid}-${label}.wasm`);
  await writeFile(variant, withCustomSection(await readFile(file), 'millrace-dashboard-test', label));
  try {
    const stdout = await runCli(binary, ['plugin', 'push', name, variant, '--kind', kind],
      { MILLRACE_SERVER: base, MILLRACE_TOKEN: token }, 60_000);
    return JSON.parse(stdout);
  } finally {
    await rm(variant, { force: true });
  }
}

function leb128(n) {
  const bytes = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    bytes.push(byte);
  } while (n);
  return Buffer.from(bytes);
}

/** A custom section (id 0) may follow any section of a module or component. */
function withCustomSection(bytes, name, payload) {
  const body = Buffer.concat([leb128(Buffer.byteLength(name)), Buffer.from(name), Buffer.from(payload)]);
  return Buffer.concat([bytes, Buffer.from([0]), leb128(body.length), body]);
}

/** `count` score events at the current time, as JSON Lines. */
export function scoreEvents(count, { start = 0 } = {}) {
  const now = Date.now();
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({ ts: now + i, user: `user${(start + i) % 7}`, score: start + i })).join('\n') + '\n';
}
