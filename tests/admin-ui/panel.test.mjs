// Browser tests of the admin panel: Debian's Chromium, headless, driven by playwright-core, against the real
// `palaver serve` (started by tests/sdk/lib/server.mjs), with real connectycube@6 users on the other side and
// a small webhook receiver standing in for the push providers (PALAVER_PUSH_WEBHOOK_URL). Screenshots go to
// target/admin-ui-artifacts/ (or $PALAVER_TEST_ADMIN_UI_ARTIFACTS).
//
// The steps run in order and build on each other, as an operator's session would: log in, create an app,
// create users and a broadcast dialog, set the chat-alert template, block a user, watch the chart.

import { test, before, after, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';
import CB from 'connectycube';
import { startServer, uniq } from '../sdk/lib/server.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ARTIFACTS = resolve(process.env.PALAVER_TEST_ADMIN_UI_ARTIFACTS || join(HERE, '..', '..', 'target', 'admin-ui-artifacts'));
const CHROMIUM = process.env.PALAVER_TEST_CHROMIUM || '/usr/bin/chromium';
const TOKEN = `panel-${uniq(12)}`;
const PASSWORD = 'panel-password-1';
const WAIT_MS = 15_000;

/** Polls `check` until it returns something truthy; fails with `what` after WAIT_MS. */
async function waitFor(what, check) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const got = await check();
    if (got) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A webhook receiver on a free loopback port: every POSTed JSON body lands in `posts`. */
function webhook() {
  const posts = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      try {
        posts.push(JSON.parse(body));
      } catch {
        posts.push({ unparsable: body });
      }
      res.end('ok');
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({ server, posts, url: `http://127.0.0.1:${server.address().port}/push` })));
}

describe('admin panel in headless Chromium', () => {
  let server;
  let hook;
  let browser;
  let page;
  const pageErrors = [];
  const sdks = [];
  // What the steps learn and hand on.
  const s = {};

  const api = async (method, path, body) => {
    const res = await fetch(`${server.httpUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${TOKEN}`, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null };
  };

  const shot = (name) => page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  const go = async (area) => {
    await page.goto(`${server.httpUrl}/admin/#/${area}`);
    await page.locator('main h1').first().waitFor();
  };

  /** A connectycube@6 instance of the test app, with a user session. */
  const sdkUser = async (login) => {
    const cb = new CB.ConnectyCube();
    cb.init(
      { appId: s.app.id, authKey: s.app.auth_key },
      {
        endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: server.wsUrl },
        chat: { streamManagement: { enable: true } },
        debug: { mode: 0 },
      },
    );
    const session = await cb.createSession({ login, password: PASSWORD });
    const user = { cb, id: session.user_id, login, messages: [] };
    cb.chat.onMessageListener = (userId, message) => user.messages.push({ userId, message });
    sdks.push(user);
    return user;
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    hook = await webhook();
    server = await startServer({
      name: 'admin-ui',
      env: { PALAVER_ADMIN_TOKEN: TOKEN, PALAVER_PUSH_WEBHOOK_URL: hook.url },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
    page.on('pageerror', (e) => pageErrors.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      // Refused calls (401, 422) are logged by Chromium and shown by the panel; anything else (a CSP
      // violation above all) is a failure.
      if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) pageErrors.push(`console: ${m.text()}`);
    });
  });

  after(async () => {
    for (const u of sdks) {
      try {
        if (u.cb.chat.isConnected) u.cb.chat.disconnect();
      } catch {
        // already gone
      }
    }
    if (browser) await browser.close();
    if (hook) hook.server.close();
    if (server) await server.stop();
  });

  test('the panel page comes with a strict Content-Security-Policy and cache headers', async () => {
    const res = await fetch(`${server.httpUrl}/admin/`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy');
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get('cache-control'), 'no-cache');
    const html = await res.text();
    const script = html.match(/src="(\/admin\/assets\/[^"]+\.js)"/)[1];
    const asset = await fetch(`${server.httpUrl}${script}`);
    assert.equal(asset.status, 200);
    assert.match(asset.headers.get('cache-control'), /immutable/);
    assert.match(asset.headers.get('content-type'), /javascript/);
  });

  test('log in with the admin token; a wrong one is refused', async () => {
    await page.goto(`${server.httpUrl}/admin/`);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText("The admin token can't be blank").waitFor();
    await page.getByLabel('Admin token').fill('not-the-token');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByText('The admin token was refused.').waitFor();
    await shot('01-login-refused');
    await page.getByLabel('Admin token').fill(TOKEN);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('heading', { name: 'Status' }).waitFor();
    await page.getByText('Chat sessions online').waitFor();
    await shot('02-status');
  });

  test('create an app', async () => {
    await go('apps');
    const form = page.getByTestId('create-app');
    await form.getByRole('button', { name: 'Create application' }).click();
    await form.getByText("Name can't be blank").waitFor();
    const name = `Panel ${uniq(4)}`;
    await form.getByLabel('Name').fill(name);
    await form.getByRole('button', { name: 'Create application' }).click();
    await form.getByText(`Created "${name}"`).waitFor();
    const { body: apps } = await api('GET', '/admin/apps');
    s.app = apps.find((a) => a.name === name);
    assert.ok(s.app, `the new app is listed by the admin API: ${JSON.stringify(apps)}`);
    // The new app is the one the per-app pages work on, and its keys are shown.
    assert.equal(await page.getByLabel('Application').inputValue(), String(s.app.id));
    assert.equal(await page.getByTestId('auth-key').textContent(), s.app.auth_key);
    await shot('03-app-created');
    // Rotate its keys: the page shows the new ones, which are the ones the server now takes.
    const detail = page.getByTestId('app-detail');
    await detail.getByRole('button', { name: 'Rotate keys' }).click();
    await detail.getByRole('button', { name: 'Yes, new auth_key and auth_secret' }).click();
    const old = s.app.auth_key;
    await waitFor('new keys on the page', async () => (await page.getByTestId('auth-key').textContent()) !== old);
    const { body: rotated } = await api('GET', `/admin/apps/${s.app.id}`);
    assert.notEqual(rotated.auth_key, old);
    assert.equal(await page.getByTestId('auth-key').textContent(), rotated.auth_key);
    s.app = rotated;
  });

  test('create users and a broadcast dialog that an SDK user receives messages from', async () => {
    await go('users');
    const form = page.getByTestId('create-user');
    for (const who of ['anchor', 'reader', 'sleeper']) {
      const login = `${who}${uniq(5)}`;
      s[who] = login;
      await form.getByLabel('Login').fill(login);
      await form.getByLabel('Password').fill(PASSWORD);
      await form.getByRole('button', { name: 'Create user' }).click();
      // The list reloads once the user is made.
      await page.locator(`tr[data-login="${login}"]`).waitFor();
    }
    // Validation before sending: a short password.
    await form.getByLabel('Login').fill('shorty');
    await form.getByLabel('Password').fill('short');
    await form.getByRole('button', { name: 'Create user' }).click();
    await form.getByText('is too short (minimum is 8 characters)').waitFor();

    const anchor = await sdkUser(s.anchor);
    const reader = await sdkUser(s.reader);
    s.anchorUser = anchor;
    s.readerUser = reader;

    await go('dialogs');
    const create = page.getByTestId('create-dialog');
    await create.getByLabel('Type').selectOption('2');
    await create.getByLabel('Name').fill('Needs an owner');
    await create.getByRole('button', { name: 'Create dialog' }).click();
    await create.getByText("The owner can't be blank").waitFor();
    // A broadcast needs no owner: the operator makes it, and names the admin who posts to it.
    await create.getByLabel('Type').selectOption('1');
    await create.getByLabel('Owner (user id)').fill('');
    await create.getByLabel('Name').fill('Announcements');
    await create.getByRole('button', { name: 'Create dialog' }).click();
    const done = await create.getByText(/Created broadcast dialog [0-9a-f]{24}/).textContent();
    s.broadcast = done.match(/[0-9a-f]{24}/)[0];
    const row = page.locator('tr[data-name="Announcements"]');
    await row.getByRole('button', { name: 'More' }).click();
    const edit = page.getByTestId('edit-dialog');
    await edit.getByLabel('Add admins (user ids)').fill('one, two');
    await edit.getByRole('button', { name: 'Save dialog' }).click();
    await edit.getByText('must be numbers separated by commas').waitFor();
    await edit.getByLabel('Add admins (user ids)').fill(String(anchor.id));
    await edit.getByRole('button', { name: 'Save dialog' }).click();
    await edit.getByText('Saved.').waitFor();
    await page.getByText(`owner the operator, admins ${anchor.id}.`).waitFor();
    const { body: made } = await api('GET', `/admin/apps/${s.app.id}/dialogs/${s.broadcast}`);
    assert.equal(made.type, 1);
    assert.equal(made.user_id, 0, 'no owner user');
    assert.deepEqual(made.admins_ids, [anchor.id]);
    await shot('04-broadcast-created');

    await reader.cb.chat.connect({ userId: reader.id, password: PASSWORD });
    await anchor.cb.chat.connect({ userId: anchor.id, password: PASSWORD });
    const listed = await reader.cb.chat.dialog.list({ _id: s.broadcast });
    assert.equal(listed.items.length, 1, 'the reader lists the broadcast dialog without joining it');
    const id = anchor.cb.chat.send(s.broadcast, {
      type: 'groupchat',
      body: 'Hello from the panel broadcast',
      extension: { save_to_history: 1, dialog_id: s.broadcast },
    });
    const got = await waitFor('the broadcast message at the reader', () => reader.messages.find((m) => m.message.id === id));
    assert.equal(got.userId, anchor.id);
    assert.equal(got.message.body, 'Hello from the panel broadcast');
    assert.equal(got.message.dialog_id, s.broadcast);

    // The message shows on the moderation page.
    await go('messages');
    await page.getByLabel('Dialog id').fill(s.broadcast);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByTestId('messages').getByText('Hello from the panel broadcast').waitFor();
    await shot('05-messages');
    // Deleted for everyone: gone from the page and from the reader's history.
    await page.getByTestId('messages').getByRole('button', { name: 'Delete' }).click();
    await page.getByTestId('messages').getByRole('button', { name: 'Yes, for everyone' }).click();
    await page.getByText('Nothing found').waitFor();
    const history = await reader.cb.chat.message.list({ chat_dialog_id: s.broadcast, mark_as_read: 0 });
    assert.deepEqual(history.items, [], 'the broadcast message is gone from the history');
  });

  test('edit the chat-alert template and see a pushed alert use it', async () => {
    const sleeper = await sdkUser(s.sleeper);
    s.sleeperUser = sleeper;
    await sleeper.cb.pushnotifications.subscriptions.create({
      notification_channel: 'gcm',
      push_token: { environment: 'development', client_identification_sequence: 'fcm-sleeper' },
      device: { platform: 'android', udid: 'sleeper-phone' },
    });

    await go('alerts');
    const form = page.getByTestId('chat-alerts');
    assert.equal(await form.getByLabel('Send chat alerts').isChecked(), true);
    await form.getByLabel('Title').fill('{sender_name} wrote');
    await form.getByLabel('Body').fill('Panel says: {message}');
    await form.getByRole('button', { name: 'Save chat alerts' }).click();
    await form.getByText('Saved: chat alerts are on.').waitFor();
    await shot('06-chat-alerts');

    // The sleeper has no chat session: a 1-1 message to him is a chat alert, rendered with the template.
    s.anchorUser.cb.chat.send(sleeper.id, { type: 'chat', body: 'are you there?', extension: { save_to_history: 1 } });
    const alert = await waitFor('a chat alert at the webhook', () =>
      hook.posts.find((p) => p.kind === 'chat_alert' && p.user_id === sleeper.id && p.text === 'are you there?'),
    );
    assert.equal(alert.title, `${s.anchor} wrote`);
    assert.equal(alert.body, 'Panel says: are you there?');
    assert.equal(alert.device.udid, 'sleeper-phone');

    // A test send from the panel: a user without devices is refused with the reason, the sleeper gets it.
    const testForm = page.getByTestId('test-alert');
    await testForm.getByLabel('User id').fill(String(s.readerUser.id));
    await testForm.getByRole('button', { name: 'Send test alert' }).click();
    await testForm.getByText('has no device subscribed to pushes').waitFor();
    await testForm.getByLabel('User id').fill(String(sleeper.id));
    await testForm.getByLabel('Message').fill('ping from the panel');
    await testForm.getByRole('button', { name: 'Send test alert' }).click();
    await testForm.getByText('Sent to 1 device.').waitFor();
    const test = await waitFor('the test alert at the webhook', () => hook.posts.find((p) => p.data && p.data.test === true));
    assert.equal(test.title, 'Palaver wrote');
    assert.equal(test.body, 'Panel says: ping from the panel');
    assert.equal(test.user_id, sleeper.id);
    await shot('07-test-alert-sent');
  });

  test('block a user and see their login refused, then unblock', async () => {
    await go('users');
    await page.getByLabel('Search login, e-mail or name').fill(s.sleeper);
    await page.getByRole('button', { name: 'Search' }).click();
    const row = page.locator(`tr[data-login="${s.sleeper}"]`);
    // His details list the device he subscribed for pushes.
    await row.getByRole('button', { name: 'More' }).click();
    await page.getByText('android “sleeper-phone” over gcm').waitFor();
    await row.getByRole('button', { name: 'Close' }).click();
    await row.getByRole('button', { name: 'Block', exact: true }).click();
    await row.getByRole('button', { name: 'Yes, block' }).click();
    await row.getByText('blocked').waitFor();
    await shot('08-user-blocked');

    const cb = new CB.ConnectyCube();
    cb.init(
      { appId: s.app.id, authKey: s.app.auth_key },
      { endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: server.wsUrl }, debug: { mode: 0 } },
    );
    await assert.rejects(cb.createSession({ login: s.sleeper, password: PASSWORD }), (e) => {
      assert.ok([401, 403, 422].includes(e.code ?? e.status), `a refusal: ${JSON.stringify(e)}`);
      return true;
    });

    await row.getByRole('button', { name: 'Unblock' }).click();
    await row.getByText('active').waitFor();
    const session = await cb.createSession({ login: s.sleeper, password: PASSWORD });
    assert.equal(session.user_id, s.sleeperUser.id);
  });

  test('watch the live chart move', async () => {
    await go('status');
    const chart = page.getByTestId('live-chart');
    const read = async () => ({
      points: Number(await chart.getAttribute('data-points')),
      sessions: Number(await chart.getAttribute('data-sessions')),
      rate: Number(await chart.getAttribute('data-rate')),
    });
    await waitFor('the chart to have samples', async () => (await read()).points >= 1);
    const first = await read();
    // Two SDK users hold chat sessions: the chart shows them.
    assert.ok(first.sessions >= 2, `sessions on the chart: ${JSON.stringify(first)}`);
    // Messages flow: the rate goes above zero and the chart gains points.
    let sent = 0;
    const moved = await waitFor('the message rate to rise on the chart', async () => {
      for (let i = 0; i < 5; i++) {
        s.anchorUser.cb.chat.send(s.broadcast, {
          type: 'groupchat',
          body: `tick ${sent++}`,
          extension: { save_to_history: 1, dialog_id: s.broadcast },
        });
      }
      await sleep(200);
      const now = await read();
      return now.rate > 0 && now.points > first.points ? now : null;
    });
    assert.ok(moved.rate > 0);
    await waitFor('the reader to get the ticks', () => s.readerUser.messages.filter((m) => m.message.body.startsWith('tick')).length === sent);
    await shot('09-live-chart');
  });

  test('the pages work at phone width, and nothing broke the page', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await go('users');
    await page.getByRole('button', { name: 'Menu' }).click();
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor();
    await page.getByTestId('audit').getByText('user.block').waitFor();
    await shot('10-phone-audit');
    await go('dialogs');
    await shot('11-phone-dialogs');
    assert.deepEqual(pageErrors, [], 'no script error or CSP violation');
  });
});
