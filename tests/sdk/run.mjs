#!/usr/bin/env node
// Runs the SDK conformance suite against real `palaver serve` processes.
//
//   node tests/sdk/run.mjs [sqlite|postgres|all ...]
//
// Databases: argv, else $PALAVER_TEST_DB, else both sqlite and postgres.
// Binary: $PALAVER_BIN, else <repo>/target/debug/palaver (build it first).
//
// v3 only speaks HTTPS, so one certificate is made here with `palaver cert`
// (unless $PALAVER_TLS_CERT/$PALAVER_TLS_KEY are given), every server the tests
// start is given it, and the test processes trust it via NODE_EXTRA_CA_CERTS
// (appended to whatever extra CAs were already configured). TLS verification
// stays on.
//
// Exit status is non-zero if any test fails, a test file crashes, or no test ran.

import { spawn, execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO_ROOT = resolve(HERE, '..', '..');
const PG_URL = process.env.PALAVER_TEST_POSTGRES_URL || process.env.PALAVER_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/test';

function log(line) {
  process.stdout.write(`${line}\n`);
}

function execJson(cmd, args, env) {
  return new Promise((res, rej) => {
    execFile(cmd, args, { env, timeout: 60_000 }, (err, stdout, stderr) => {
      if (err) return rej(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      try {
        res(JSON.parse(stdout.trim()));
      } catch {
        rej(new Error(`${cmd} ${args.join(' ')}: expected one JSON object on stdout, got:\n${stdout}`));
      }
    });
  });
}

function check(cmd, args) {
  return new Promise((res) => {
    execFile(cmd, args, { timeout: 15_000 }, (err, stdout, stderr) => res(err ? `${err.message}\n${stderr}` : null));
  });
}

function pickDatabases() {
  const wanted = process.argv.slice(2).length ? process.argv.slice(2) : (process.env.PALAVER_TEST_DB || 'all').split(/[\s,]+/);
  const dbs = new Set();
  for (const w of wanted.map((s) => s.toLowerCase()).filter(Boolean)) {
    if (w === 'all') {
      dbs.add('sqlite');
      dbs.add('postgres');
    } else if (w === 'sqlite' || w === 'postgres') {
      dbs.add(w);
    } else {
      throw new Error(`unknown database ${JSON.stringify(w)} (use sqlite, postgres or all)`);
    }
  }
  return [...dbs];
}

async function ensureNodeModules() {
  const needed = ['connectycube', 'connectycube-v3', join('@xmpp', 'client'), 'ws'];
  if (needed.every((m) => existsSync(join(HERE, 'node_modules', m, 'package.json')))) return;
  log('[sdk] node_modules missing: npm ci');
  const code = await new Promise((res) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    spawn(npm, ['ci', '--no-audit', '--no-fund'], { cwd: HERE, stdio: 'inherit' }).on('exit', res).on('error', () => res(1));
  });
  if (code !== 0) throw new Error('npm ci failed in tests/sdk');
}

/** Runs `node --test` on the test files for one database; returns {code, pass, fail, skipped, tests}. */
function runNodeTest(db, files, env) {
  return new Promise((res) => {
    const args = ['--test', '--test-reporter=spec', '--test-timeout=60000', ...files];
    const child = spawn(process.execPath, args, { cwd: HERE, env: { ...env, PALAVER_TEST_DB: db }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on('data', (d) => process.stderr.write(d));
    child.on('exit', (code, signal) => {
      const num = (label) => {
        const m = out.match(new RegExp(`^\\S*\\s*${label} (\\d+)\\s*$`, 'm'));
        return m ? Number(m[1]) : null;
      };
      res({ code: code ?? (signal ? 1 : 0), tests: num('tests'), pass: num('pass'), fail: num('fail'), skipped: (num('skipped') ?? 0) + (num('todo') ?? 0) });
    });
  });
}

async function main() {
  const dbs = pickDatabases();
  const bin = resolve(process.env.PALAVER_BIN || join(REPO_ROOT, 'target', 'debug', 'palaver'));
  if (!existsSync(bin)) {
    throw new Error(`palaver binary not found at ${bin}: build it first (cargo build -p palaver) or set PALAVER_BIN`);
  }
  await ensureNodeModules();

  const scratch = mkdtempSync(join(tmpdir(), 'palaver-sdk-run-'));
  process.on('exit', () => rmSync(scratch, { recursive: true, force: true }));
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

  // One certificate for every server of this run.
  let cert = process.env.PALAVER_TLS_CERT;
  let key = process.env.PALAVER_TLS_KEY;
  if (!cert || !key) {
    const dataDir = join(scratch, 'cert-data');
    const made = await execJson(bin, ['cert'], { ...process.env, PALAVER_DATA_DIR: dataDir });
    if (!made.cert || !made.key || !existsSync(made.cert) || !existsSync(made.key)) {
      throw new Error(`palaver cert printed ${JSON.stringify(made)}, but those files do not exist`);
    }
    cert = made.cert;
    key = made.key;
  }
  // Trust it in the test processes, keeping any extra CAs already configured.
  let bundle = '';
  const prior = process.env.NODE_EXTRA_CA_CERTS;
  if (prior && existsSync(prior)) bundle = readFileSync(prior, 'utf8').trimEnd() + '\n';
  bundle += readFileSync(cert, 'utf8');
  const caFile = join(scratch, 'extra-ca.pem');
  writeFileSync(caFile, bundle);

  const env = {
    ...process.env,
    PALAVER_BIN: bin,
    PALAVER_TLS_CERT: resolve(cert),
    PALAVER_TLS_KEY: resolve(key),
    NODE_EXTRA_CA_CERTS: caFile,
  };
  delete env.NODE_TEST_CONTEXT; // when launched from inside another node --test

  const files = readdirSync(join(HERE, 'test')).filter((f) => f.endsWith('.test.mjs')).sort().map((f) => join('test', f));
  if (files.length === 0) throw new Error('no test files in tests/sdk/test');

  const results = [];
  for (const db of dbs) {
    log(`\n=== SDK conformance (${files.map((f) => f.replace(/^test\//, '')).join(', ')}) on ${db} ===`);
    if (db === 'postgres') {
      const problem = await check('psql', ['-X', '-q', PG_URL, '-c', 'select 1']);
      if (problem) {
        log(`[sdk] PostgreSQL at ${PG_URL} is not usable: ${problem.trim()}`);
        results.push({ db, code: 1, tests: 0, pass: 0, fail: 1, skipped: 0, note: 'database unavailable' });
        continue;
      }
    }
    const r = await runNodeTest(db, files, env);
    results.push({ db, ...r });
  }

  log('\n=== SDK conformance summary ===');
  let pass = 0;
  let fail = 0;
  let skipped = 0;
  let ok = true;
  for (const r of results) {
    const rp = r.pass ?? 0;
    const rf = r.fail ?? 0;
    pass += rp;
    fail += rf;
    skipped += r.skipped ?? 0;
    const bad = r.code !== 0 || rf > 0 || !r.tests;
    if (bad) ok = false;
    log(`${r.db}: ${rp} passed, ${rf} failed${r.skipped ? `, ${r.skipped} skipped` : ''}${r.code !== 0 ? ` (exit ${r.code})` : ''}${r.note ? ` (${r.note})` : ''}`);
  }
  if (!ok && fail === 0) fail = 1; // a crashed or empty run is a failure even without a counted test
  log(`sdk: ${pass} passed, ${fail} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`[sdk] ${err.stack || err.message}\n`);
  log('sdk: 0 passed, 1 failed');
  process.exitCode = 1;
});
