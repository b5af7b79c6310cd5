// Test harness: runs a real `palaver serve` on free loopback ports with a
// throw-away data directory (and, for PostgreSQL, a throw-away schema), and
// drives the `palaver` CLI against the same configuration. Every server gets its
// own HTTP, HTTPS, XMPP WebSocket (ws, wss) and XMPP TCP (STARTTLS, direct TLS)
// ports, and can be restarted on the same ports, data dir and database.
//
// Environment read here:
//   PALAVER_BIN          path of the binary (default: <repo>/target/debug/palaver)
//   PALAVER_TEST_DB      sqlite (default) | postgres
//   PALAVER_TEST_POSTGRES_URL  base PostgreSQL URL (default postgres://postgres@127.0.0.1:5432/test)
//   PALAVER_TLS_CERT / PALAVER_TLS_KEY  certificate every server must use (set by run.mjs,
//                        which also points NODE_EXTRA_CA_CERTS at it so HTTPS is verified)
//   PALAVER_TEST_KEEP    keep data dirs / schemas and print where they are (debugging)

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, open, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

const HERE = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(HERE, '..', '..', '..');

export function palaverBin() {
  const bin = process.env.PALAVER_BIN || join(REPO_ROOT, 'target', 'debug', 'palaver');
  if (!existsSync(bin)) {
    throw new Error(`palaver binary not found at ${bin} (build it with \`cargo build -p palaver\` or set PALAVER_BIN)`);
  }
  return bin;
}

export function testDb() {
  const db = (process.env.PALAVER_TEST_DB || 'sqlite').toLowerCase();
  if (db !== 'sqlite' && db !== 'postgres') {
    throw new Error(`PALAVER_TEST_DB must be sqlite or postgres, not ${JSON.stringify(db)}`);
  }
  return db;
}

const PG_BASE_URL = () => process.env.PALAVER_TEST_POSTGRES_URL || process.env.PALAVER_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';

/** A free TCP port on 127.0.0.1 (bound and released; the OS will not hand it out again soon). */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

async function freePorts(n) {
  const ports = new Set();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}

function run(cmd, args, { env, input, timeoutMs = 30_000 } = {}) {
  return new Promise((resolveRun, reject) => {
    const child = execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        err.message += `\n$ ${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`;
        reject(err);
      } else {
        resolveRun({ stdout, stderr });
      }
    });
    if (input !== undefined) child.stdin.end(input);
  });
}

async function psql(sql) {
  try {
    return await run('psql', ['-v', 'ON_ERROR_STOP=1', '-X', '-q', PG_BASE_URL(), '-c', sql]);
  } catch (e) {
    if (e.code === 'ENOENT') throw new Error('psql is needed for PALAVER_TEST_DB=postgres but was not found on PATH');
    throw e;
  }
}

/** Parses the single JSON object a CLI command prints on stdout. */
export function parseCliJson(stdout, what) {
  const text = stdout.trim();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${what}: expected exactly one JSON object on stdout, got:\n${stdout}`);
  }
}

/** Resolves true once something accepts TCP connections on 127.0.0.1:port. */
function tcpAccepts(port, timeoutMs = 1_000) {
  return new Promise((res) => {
    const sock = connect({ host: '127.0.0.1', port });
    const done = (ok) => {
      sock.destroy();
      res(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * Starts `palaver serve`. Options:
 *   sessionTtlSecs — PALAVER_SESSION_TTL_SECS
 *   env            — extra environment
 *   databaseUrl    — use this (another server's) database instead of a fresh one: cluster nodes
 * Returns a Server with httpUrl, httpsHost ('127.0.0.1:PORT'), the XMPP endpoints
 * (wsUrl, wssUrl, c2sService, c2sTlsService, domain), createApp(), createUser(),
 * restart() (SIGTERM, then the same binary again on the same ports, data dir and
 * database) and stop().
 */
export async function startServer(options = {}) {
  // A port found free can be taken by another process (an outgoing connection's ephemeral port) before
  // the server binds it: then the server exits at once, and a second start with new ports is the fix.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startServerOnce(options);
    } catch (e) {
      if (attempt >= 3 || !/Address already in use/.test(e.message)) throw e;
      process.stderr.write(`[harness] a port was taken before ${options.name || 'palaver'} bound it; retrying\n`);
    }
  }
}

async function startServerOnce({ sessionTtlSecs, env: extraEnv = {}, name = 'palaver', databaseUrl: sharedDatabase } = {}) {
  const bin = palaverBin();
  const db = testDb();
  const dataDir = await mkdtemp(join(tmpdir(), 'palaver-sdk-'));
  const [http, https, ws, wss, c2s, c2sTls] = await freePorts(6);

  let schema = null;
  let databaseUrl = sharedDatabase;
  // `databaseUrl`: another server's database (the nodes of a cluster share one); the owner drops it.
  if (db === 'postgres' && !sharedDatabase) {
    schema = `palaver_sdk_${process.pid}_${randomBytes(4).toString('hex')}`;
    await psql(`CREATE SCHEMA ${schema}`);
    const sep = PG_BASE_URL().includes('?') ? '&' : '?';
    databaseUrl = `${PG_BASE_URL()}${sep}options=-c%20search_path%3D${schema}`;
  }

  const env = {
    ...process.env,
    PALAVER_DATA_DIR: dataDir,
    PALAVER_HTTP_ADDR: `127.0.0.1:${http}`,
    PALAVER_HTTPS_ADDR: `127.0.0.1:${https}`,
    PALAVER_WS_ADDR: `127.0.0.1:${ws}`,
    PALAVER_WSS_ADDR: `127.0.0.1:${wss}`,
    PALAVER_C2S_ADDR: `127.0.0.1:${c2s}`,
    PALAVER_C2S_TLS_ADDR: `127.0.0.1:${c2sTls}`,
    ...extraEnv,
  };
  delete env.PALAVER_DATABASE_URL;
  if (databaseUrl) env.PALAVER_DATABASE_URL = databaseUrl;
  if (sessionTtlSecs !== undefined) env.PALAVER_SESSION_TTL_SECS = String(sessionTtlSecs);
  // Tests must not depend on the developer's own log level noise, but keep RUST_LOG if set.

  const logPath = join(dataDir, 'server.log');
  const logFile = await open(logPath, 'a');
  const httpUrl = `http://127.0.0.1:${http}`;

  // The running process: {child, exited, exitPromise}. Replaced by restart().
  let proc = null;
  const spawnProcess = () => {
    const child = spawn(bin, ['serve'], { env, stdio: ['ignore', logFile.fd, logFile.fd] });
    const p = { child, exited: null, exitPromise: null };
    p.exitPromise = new Promise((res) => {
      child.on('exit', (code, signal) => {
        p.exited = { code, signal };
        res(p.exited);
      });
      child.on('error', (err) => {
        p.exited = { code: null, signal: null, error: err };
        res(p.exited);
      });
    });
    return p;
  };
  /** SIGTERM (SIGKILL after 10 s); resolves to {code, signal} of the exit. */
  const terminate = async (p) => {
    if (p.exited !== null) return p.exited;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child.kill('SIGKILL'), 10_000);
    const exited = await p.exitPromise;
    clearTimeout(timer);
    return exited;
  };

  let stopped = false;
  const server = {
    name,
    db,
    dataDir,
    schema,
    databaseUrl,
    env,
    ports: { http, https, ws, wss, c2s, c2sTls },
    httpUrl,
    httpsUrl: `https://127.0.0.1:${https}`,
    httpsHost: `127.0.0.1:${https}`,
    /** XMPP domain of every JID (PALAVER_DOMAIN, default localhost). */
    domain: env.PALAVER_DOMAIN || 'localhost',
    /** RFC 7395 WebSocket endpoints (the certificate names localhost and 127.0.0.1). */
    wsUrl: `ws://127.0.0.1:${ws}`,
    wssUrl: `wss://localhost:${wss}`,
    /** XMPP over TCP (STARTTLS) and over direct TLS, as @xmpp/client service URLs. */
    c2sService: `xmpp://127.0.0.1:${c2s}`,
    c2sTlsService: `xmpps://127.0.0.1:${c2sTls}`,
    get child() {
      return proc && proc.child;
    },
    /** Every `palaver serve` of this server has run with this log file (restarts append). */
    logPath,
    log: () => readFile(logPath, 'utf8').catch(() => ''),
    cli: (args) => run(bin, args, { env }),
    /** Bare JID of a user of an app. */
    jid(userId, appId) {
      return `${userId}-${appId}@${server.domain}`;
    },
    async createApp(appName = `app-${randomBytes(3).toString('hex')}`) {
      const { stdout } = await run(bin, ['app', 'create', '--name', appName], { env });
      const app = parseCliJson(stdout, 'palaver app create');
      for (const k of ['id', 'name', 'auth_key', 'auth_secret']) {
        if (app[k] === undefined || app[k] === null || app[k] === '') {
          throw new Error(`palaver app create: field ${k} missing in ${stdout}`);
        }
      }
      return app;
    },
    async createUser(appId, login, password) {
      const { stdout } = await run(bin, ['user', 'create', '--app', String(appId), '--login', login, '--password', password], { env });
      return parseCliJson(stdout, 'palaver user create');
    },
    /**
     * SIGTERMs the running process, waits for it to exit, and starts `palaver serve` again with
     * the same environment (ports, data dir, database). Options: downMs — extra time to stay
     * down. Resolves to {exited, elapsedMs} (exit status of the old process, time until the
     * new one was healthy again).
     */
    async restart({ downMs = 0 } = {}) {
      if (stopped) throw new Error(`${name}: restart() after stop()`);
      const t0 = Date.now();
      const exited = await terminate(proc);
      if (downMs > 0) await sleep(downMs);
      proc = spawnProcess();
      await waitHealthy();
      return { exited, elapsedMs: Date.now() - t0 };
    },
    async stop() {
      let exited = null;
      if (proc) exited = await terminate(proc);
      if (stopped) return exited;
      stopped = true;
      await logFile.close().catch(() => {});
      if (process.env.PALAVER_TEST_KEEP) {
        process.stderr.write(`[harness] kept ${name} data dir ${dataDir}${schema ? ` and schema ${schema}` : ''}\n`);
        return exited;
      }
      if (schema) await psql(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch((e) => process.stderr.write(`[harness] ${e.message}\n`));
      await rm(dataDir, { recursive: true, force: true });
      return exited;
    },
  };

  // Healthy = GET /health answers 200 and the XMPP WebSocket and TCP listeners accept connections.
  async function waitHealthy() {
    const deadline = Date.now() + 30_000;
    let lastErr = null;
    for (;;) {
      if (proc.exited !== null) {
        const log = await server.log();
        const exited = proc.exited;
        await server.stop();
        throw new Error(`palaver serve exited early (${JSON.stringify(exited)}); log:\n${log}`);
      }
      try {
        const res = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === 200) {
          const closed = [];
          for (const [k, port] of Object.entries({ ws, c2s, c2sTls })) {
            if (!(await tcpAccepts(port))) closed.push(`${k} ${port}`);
          }
          if (closed.length === 0) return;
          lastErr = new Error(`GET /health is 200 but nothing listens on ${closed.join(', ')}`);
        } else {
          lastErr = new Error(`GET /health -> ${res.status}`);
        }
      } catch (e) {
        lastErr = e;
      }
      if (Date.now() > deadline) {
        const log = await server.log();
        await server.stop();
        throw new Error(`palaver serve not healthy after 30 s (${lastErr && lastErr.message}); log:\n${log}`);
      }
      await sleep(100);
    }
  }

  proc = spawnProcess();
  await waitHealthy();
  return server;
}

/** Random lowercase alphanumeric tag, to keep logins/emails unique across tests and runs. */
export function uniq(n = 6) {
  return randomBytes(n).toString('hex').slice(0, n);
}
