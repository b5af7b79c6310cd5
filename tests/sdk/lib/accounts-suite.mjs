// The account/session conformance flows that v6 and v3 share. Each test file
// (one per SDK generation, each in its own process because the SDK modules are
// singletons) calls accountsSuite() with an adapter:
//
//   { version: 'v6' | 'v3',
//     CB,                                   // the SDK's default export
//     init(server, app, sessionExpired),    // ConnectyCube.init(...) against that server/app
//     initWithToken(server, app, token, sessionExpired) }
//
// It returns an object whose fields (main server, app, hook, useApp) are
// filled in by the suite's before() hook, for the version-specific tests.

import { describe as nodeDescribe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, uniq } from './server.mjs';
import {
  SESSION_EXPIRED_BODY,
  PASSWORD,
  NEW_PASSWORD,
  expectHttpError,
  expectSessionExpired,
  assertUser,
  assertSession,
  newCreds,
  signUpUser,
  makeExpiryHook,
} from './flows.mjs';

/** Session lifetime of the second server, used to watch real expiry. */
export const SHORT_TTL_SECS = 3;

const sortedTags = (s) => (s ?? '').split(',').map((t) => t.trim()).filter(Boolean).sort();

export function accountsSuite(sdk) {
  const { CB } = sdk;
  const describe = (title, fn) => nodeDescribe(`${sdk.version}: ${title}`, fn);
  const hook = makeExpiryHook();
  const ctx = { main: null, shortTtl: null, app: null, hook, useApp: null };
  const useApp = (server, app) => sdk.init(server, app, hook.dispatch);
  ctx.useApp = useApp;

  before(async () => {
    // Both servers start in parallel: the short-TTL one is only for the expiry tests.
    const [main, shortTtl] = await Promise.all([
      startServer({ name: 'main' }),
      startServer({ name: 'short-ttl', sessionTtlSecs: SHORT_TTL_SECS }),
    ]);
    ctx.main = main;
    ctx.shortTtl = shortTtl;
    ctx.app = await main.createApp(`sdk-${sdk.version}-${uniq(4)}`);
    assert.equal(typeof ctx.app.id, 'number', 'app create: id must be a JSON number');
    useApp(main, ctx.app);
  });

  after(async () => {
    await Promise.all([ctx.main?.stop(), ctx.shortTtl?.stop()]);
  });

  beforeEach(() => hook.reset());

  describe('application session', () => {
    test('createSession() without a user gives an application session; getSession() returns it', async () => {
      const s = await CB.createSession();
      assertSession(s, { appId: ctx.app.id, userId: null });
      assert.equal(CB.service.sdkInstance.session.token, s.token, 'the SDK keeps the token it was given');

      const g = await CB.getSession();
      assertSession(g, { appId: ctx.app.id, userId: null });
      assert.equal(g.token, s.token);
      assert.equal(g.id, s.id);
    });

    test('every createSession() issues a different token', async () => {
      const a = await CB.createSession();
      const b = await CB.createSession(); // sent with the old CB-Token (docs/protocol.md#quirk-stale-token-on-session-create)
      assert.notEqual(a.token, b.token);
      assert.equal((await CB.getSession()).token, b.token);
    });

    test('a wrong auth key is refused and leaves the SDK without a session', async () => {
      useApp(ctx.main, { ...ctx.app, auth_key: 'not-the-auth-key' });
      try {
        let err;
        try {
          await CB.createSession();
        } catch (e) {
          err = e;
        }
        assert.ok(err && err.code >= 400 && err.code < 500, `expected a 4xx, got ${JSON.stringify(err)}`);
        assert.notDeepEqual(err.info, SESSION_EXPIRED_BODY);
        assert.equal(CB.service.sdkInstance.session, null);
      } finally {
        useApp(ctx.main, ctx.app);
      }
    });

    test('an init with an existing token makes calls with it', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'tokenuser');
      const s = await CB.createSession({ login: creds.login, password: creds.password });
      sdk.initWithToken(ctx.main, ctx.app, s.token, hook.dispatch);
      try {
        const g = await CB.getSession();
        assertSession(g, { appId: ctx.app.id, userId: user.id });
        assert.equal(g.token, s.token);
        const { user: read } = await CB.users.get(user.id);
        assertUser(read, { id: user.id, login: creds.login });
      } finally {
        useApp(ctx.main, ctx.app);
      }
    });
  });

  describe('sign up', () => {
    test('users.signup with an application session creates the user (tag_list -> user_tags string)', async () => {
      const custom = JSON.stringify({ theme: 'dark', n: 1 });
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'signup', { tag_list: 'alpha,beta', custom_data: custom });
      assert.deepEqual(sortedTags(user.user_tags), ['alpha', 'beta']);
      assert.equal(user.custom_data, custom);

      const { user: again } = await CB.users.get(user.id);
      assertUser(again, { id: user.id, login: creds.login, email: creds.email, full_name: creds.full_name, custom_data: custom });
      assert.deepEqual(sortedTags(again.user_tags), ['alpha', 'beta']);
    });

    test('a duplicate login is refused with 422 and errors.login', async () => {
      const { creds } = await signUpUser(CB, ctx.app.id, 'dup');
      const err = await expectHttpError(
        CB.users.signup({ login: creds.login, email: `other${uniq()}@example.com`, password: PASSWORD }),
        422,
        'signup with a taken login'
      );
      const msgs = err.info?.errors?.login;
      assert.ok(Array.isArray(msgs) && msgs.length > 0 && msgs.every((m) => typeof m === 'string'),
        `expected errors.login to be a non-empty list of strings, got ${JSON.stringify(err.info)}`);
    });

    test('a duplicate email is refused with 422 and errors.email', async () => {
      const { creds } = await signUpUser(CB, ctx.app.id, 'dupmail');
      const err = await expectHttpError(
        CB.users.signup({ login: `other${uniq()}`, email: creds.email, password: PASSWORD }),
        422,
        'signup with a taken email'
      );
      const msgs = err.info?.errors?.email;
      assert.ok(Array.isArray(msgs) && msgs.length > 0, `expected errors.email, got ${JSON.stringify(err.info)}`);
    });

    test('a sign-up without a password is refused with 422 and creates nobody', async () => {
      await CB.createSession();
      const login = `nopass${uniq()}`;
      await expectHttpError(CB.users.signup({ login }), 422, 'signup without password');
      await expectHttpError(CB.users.get({ login }), 404, 'reading the refused login');
    });
  });

  describe('log in', () => {
    test('createSession({login, password}) gives a user session', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'loginname');
      const s = await CB.createSession({ login: creds.login, password: creds.password });
      assertSession(s, { appId: ctx.app.id, userId: user.id });
      assert.ok(s.user, `a user session carries the user (docs/protocol.md#object-session): ${JSON.stringify(s)}`);
      assertUser(s.user, { id: user.id, login: creds.login });
      assert.equal(CB.service.getCurrentUserId(), user.id, 'the SDK takes its current user id from session.user_id');

      const g = await CB.getSession();
      assertSession(g, { appId: ctx.app.id, userId: user.id });
      assert.equal(g.token, s.token);
    });

    test('createSession({email, password}) gives a user session', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'loginmail');
      const s = await CB.createSession({ email: creds.email, password: creds.password });
      assertSession(s, { appId: ctx.app.id, userId: user.id });
      assert.equal((await CB.getSession()).user_id, user.id);
    });

    test('login() upgrades the application session in place, logout() downgrades it', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'upgrade');
      const appSession = await CB.createSession();
      assertSession(appSession, { userId: null });

      const u = await CB.login({ login: creds.login, password: creds.password });
      assertUser(u, { id: user.id, login: creds.login, email: creds.email });
      assert.equal(CB.service.getCurrentUserId(), user.id);
      let g = await CB.getSession();
      assert.equal(g.token, appSession.token, 'login() keeps the token');
      assert.equal(g.user_id, user.id);
      // the upgraded session can act as the user
      const { user: updated } = await CB.users.update({ full_name: 'Upgraded Person' });
      assert.equal(updated.full_name, 'Upgraded Person');

      await CB.logout();
      g = await CB.getSession();
      assert.equal(g.token, appSession.token, 'logout() keeps the token');
      assert.ok(g.user_id === null || g.user_id === 0, `after logout() the session has no user, got ${g.user_id}`);

      const byEmail = await CB.login({ email: creds.email, password: creds.password });
      assert.equal(byEmail.id, user.id);
      assert.equal((await CB.getSession()).user_id, user.id);
    });

    test('a wrong password gives 401 {"errors":["Unauthorized"]} and no session-expired hook', async () => {
      const { creds } = await signUpUser(CB, ctx.app.id, 'wrongpw');
      const err = await expectHttpError(CB.createSession({ login: creds.login, password: 'not-the-password' }), 401, 'createSession, wrong password');
      assert.deepEqual(err.info, { errors: ['Unauthorized'] });

      const err2 = await expectHttpError(CB.createSession({ email: creds.email, password: 'not-the-password' }), 401, 'createSession by email, wrong password');
      assert.deepEqual(err2.info, { errors: ['Unauthorized'] });

      const err3 = await expectHttpError(CB.createSession({ login: `nosuch${uniq()}`, password: PASSWORD }), 401, 'createSession, unknown login');
      assert.deepEqual(err3.info, { errors: ['Unauthorized'] });

      const appSession = await CB.createSession();
      const err4 = await expectHttpError(CB.login({ login: creds.login, password: 'not-the-password' }), 401, 'login(), wrong password');
      assert.notDeepEqual(err4.info, SESSION_EXPIRED_BODY, 'a wrong password must not look like an expired session');
      const g = await CB.getSession();
      assert.equal(g.token, appSession.token);
      assert.ok(!g.user_id, 'a failed login() leaves the application session as it was');
      assert.equal(hook.calls, 0, 'sessionExpired must not fire for wrong credentials');
    });
  });

  describe('profile', () => {
    test('read a profile by id, getV2 id[in], login, email and full_name', async () => {
      const a = await signUpUser(CB, ctx.app.id, 'reader');
      const b = await signUpUser(CB, ctx.app.id, 'target', { tag_list: 'red' });
      await CB.createSession({ login: a.creds.login, password: a.creds.password });

      const { user: byId } = await CB.users.get(b.user.id);
      assertUser(byId, { id: b.user.id, login: b.creds.login, email: b.creds.email, full_name: b.creds.full_name, user_tags: 'red' });

      const v2 = await CB.users.getV2({ id: { in: [b.user.id, a.user.id] } });
      assert.equal(v2.total_entries, 2);
      assert.equal(v2.skip, 0);
      assert.equal(typeof v2.limit, 'number');
      assert.deepEqual(v2.items.map((u) => u.id).sort((x, y) => x - y), [a.user.id, b.user.id].sort((x, y) => x - y));
      v2.items.forEach((u) => assertUser(u));

      const { user: byLogin } = await CB.users.get({ login: b.creds.login });
      assert.equal(byLogin.id, b.user.id);
      const { user: byEmail } = await CB.users.get({ email: b.creds.email });
      assert.equal(byEmail.id, b.user.id);

      const byName = await CB.users.get({ full_name: b.creds.full_name });
      assert.equal(byName.total_entries, 1, `by_full_name envelope: ${JSON.stringify(byName)}`);
      assert.equal(byName.current_page, 1);
      assert.equal(typeof byName.per_page, 'number');
      assert.equal(byName.items.length, 1);
      assertUser(byName.items[0].user, { id: b.user.id, login: b.creds.login });

      await expectHttpError(CB.users.get(2_000_000_000), 404, 'unknown user id');
      await expectHttpError(CB.users.get({ login: `nosuch${uniq()}` }), 404, 'unknown login');
      await expectHttpError(CB.users.get({ email: `nosuch${uniq()}@example.com` }), 404, 'unknown email');
    });

    test('update full_name, custom_data and tag_list (array and string forms)', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'editor');
      await CB.createSession({ login: creds.login, password: creds.password });
      const custom = JSON.stringify({ avatarColor: '#ff0000', n: 2 });

      const { user: up } = await CB.users.update({ full_name: 'Edited Name', custom_data: custom, tag_list: ['red', 'green'] });
      assertUser(up, { id: user.id, login: creds.login, full_name: 'Edited Name', custom_data: custom });
      assert.deepEqual(sortedTags(up.user_tags), ['green', 'red']);
      assert.ok(up.updated_at >= user.updated_at, 'updated_at moves forward');

      const { user: read } = await CB.users.get(user.id);
      assertUser(read, { id: user.id, full_name: 'Edited Name', custom_data: custom, email: creds.email });
      assert.deepEqual(sortedTags(read.user_tags), ['green', 'red']);

      const { user: up2 } = await CB.users.update({ tag_list: 'one,two' });
      assert.deepEqual(sortedTags(up2.user_tags), ['one', 'two']);
      assert.equal(up2.full_name, 'Edited Name', 'fields not sent are kept');
      assert.equal(up2.custom_data, custom);
    });

    test('change the password with old_password; the old one then fails with 401', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'pwchange');
      await CB.createSession({ login: creds.login, password: creds.password });
      const { user: up } = await CB.users.update({ password: NEW_PASSWORD, old_password: PASSWORD });
      assertUser(up, { id: user.id, login: creds.login });

      const s = await CB.createSession({ login: creds.login, password: NEW_PASSWORD });
      assert.equal(s.user_id, user.id);
      const s2 = await CB.createSession({ email: creds.email, password: NEW_PASSWORD });
      assert.equal(s2.user_id, user.id);
      const err = await expectHttpError(CB.createSession({ login: creds.login, password: PASSWORD }), 401, 'login with the old password');
      assert.deepEqual(err.info, { errors: ['Unauthorized'] });
    });

    test('a password change with a wrong old_password is refused and changes nothing', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'pwkeep');
      await CB.createSession({ login: creds.login, password: creds.password });
      let err;
      try {
        await CB.users.update({ password: NEW_PASSWORD, old_password: 'not-the-old-one' });
      } catch (e) {
        err = e;
      }
      assert.ok(err, 'update with a wrong old_password must fail');
      assert.ok([400, 401, 403, 422].includes(err.code), `expected a 4xx refusal, got ${err.code} ${JSON.stringify(err.info)}`);
      assert.notDeepEqual(err.info, SESSION_EXPIRED_BODY, 'a wrong old_password must not look like an expired session');
      assert.equal(hook.calls, 0);

      assert.equal((await CB.createSession({ login: creds.login, password: PASSWORD })).user_id, user.id);
      await expectHttpError(CB.createSession({ login: creds.login, password: NEW_PASSWORD }), 401, 'login with the refused new password');
    });

    test("updating another user's profile is forbidden (403)", async () => {
      const a = await signUpUser(CB, ctx.app.id, 'attacker');
      const b = await signUpUser(CB, ctx.app.id, 'victim');
      await CB.createSession({ login: a.creds.login, password: a.creds.password });
      CB.service.setCurrentUserId(b.user.id); // makes the SDK call PUT /users/{b}.json
      try {
        await expectHttpError(CB.users.update({ full_name: 'Hacked' }), 403, 'PUT /users/{other}');
      } finally {
        CB.service.setCurrentUserId(a.user.id);
      }
      const { user: still } = await CB.users.get(b.user.id);
      assert.equal(still.full_name, b.creds.full_name);
    });
  });

  describe('listing users', () => {
    // A dedicated app, so counts are exact: only these five users exist in it.
    let listApp;
    const users = [];
    const names = ['Ann Listing', 'Zed Twin', 'Zed Twin', 'Bob Listing', 'Cid Listing'];

    before(async () => {
      listApp = await ctx.main.createApp(`sdk-${sdk.version}-list-${uniq(4)}`);
      useApp(ctx.main, listApp);
      for (const full_name of names) {
        users.push(await signUpUser(CB, listApp.id, 'lst', { full_name }));
      }
      // ids are assigned in creation order
      const ids = users.map((u) => u.user.id);
      assert.deepEqual([...ids].sort((a, b) => a - b), ids, 'user ids increase in creation order');
    });

    after(() => useApp(ctx.main, ctx.app));

    const ids = () => users.map((u) => u.user.id);

    test('getV2 with id[in], limit/offset pagination and sort_asc/sort_desc', async () => {
      await CB.createSession();
      const all = ids();
      const page = async (params) => {
        const r = await CB.users.getV2(params);
        r.items.forEach((u) => assertUser(u));
        return r;
      };

      let r = await page({ id: { in: all }, limit: 2, offset: 0, sort_asc: 'id' });
      assert.equal(r.total_entries, 5);
      assert.equal(r.limit, 2);
      assert.equal(r.skip, 0);
      assert.deepEqual(r.items.map((u) => u.id), all.slice(0, 2));

      r = await page({ id: { in: all }, limit: 2, offset: 2, sort_asc: 'id' });
      assert.equal(r.total_entries, 5);
      assert.equal(r.skip, 2);
      assert.deepEqual(r.items.map((u) => u.id), all.slice(2, 4));

      r = await page({ id: { in: all }, limit: 2, offset: 4, sort_asc: 'id' });
      assert.deepEqual(r.items.map((u) => u.id), all.slice(4));

      r = await page({ id: { in: all }, limit: 3, sort_desc: 'id' });
      assert.deepEqual(r.items.map((u) => u.id), [...all].reverse().slice(0, 3));

      r = await page({ id: { in: all } });
      assert.equal(r.total_entries, 5);
      assert.equal(r.items.length, 5);
    });

    test('getV2 filters: login eq, login[in], full_name eq, id[gt] with a primary filter', async () => {
      await CB.createSession();
      const all = ids();
      const logins = users.map((u) => u.creds.login);

      let r = await CB.users.getV2({ login: logins[3] });
      assert.equal(r.total_entries, 1);
      assert.deepEqual(r.items.map((u) => u.id), [all[3]]);

      r = await CB.users.getV2({ login: { in: [logins[4], logins[1]] }, sort_asc: 'id' });
      assert.equal(r.total_entries, 2);
      assert.deepEqual(r.items.map((u) => u.id), [all[1], all[4]]);

      r = await CB.users.getV2({ full_name: 'Zed Twin', sort_desc: 'id' });
      assert.equal(r.total_entries, 2);
      assert.deepEqual(r.items.map((u) => u.id), [all[2], all[1]]);

      r = await CB.users.getV2({ login: { in: logins }, id: { gt: all[2] }, sort_asc: 'id' });
      assert.equal(r.total_entries, 2);
      assert.deepEqual(r.items.map((u) => u.id), [all[3], all[4]]);
    });

    test('getV2 without a stand-alone filter is refused with 422', async () => {
      await CB.createSession();
      await expectHttpError(CB.users.getV2({ limit: 5 }), 422, 'getV2 without a primary filter');
    });

    test('v1 list: filter[] (number id in …), order, page/per_page; by_full_name', async () => {
      const u0 = users[0];
      await CB.createSession({ login: u0.creds.login, password: u0.creds.password });
      const all = ids();

      let r = await CB.users.get({ filter: { field: 'id', param: 'in', value: all }, order: { sort: 'asc', field: 'id' }, page: 1, per_page: 2 });
      assert.equal(r.total_entries, 5);
      assert.equal(r.current_page, 1);
      assert.equal(r.per_page, 2);
      assert.deepEqual(r.items.map((i) => i.user.id), all.slice(0, 2));
      r.items.forEach((i) => assertUser(i.user));

      r = await CB.users.get({ filter: { field: 'id', param: 'in', value: all }, order: { sort: 'asc', field: 'id' }, page: 3, per_page: 2 });
      assert.equal(r.current_page, 3);
      assert.deepEqual(r.items.map((i) => i.user.id), all.slice(4));

      r = await CB.users.get({ filter: { field: 'id', param: 'in', value: all }, order: { sort: 'desc', field: 'id' }, per_page: 10 });
      assert.deepEqual(r.items.map((i) => i.user.id), [...all].reverse());

      r = await CB.users.get({ filter: { field: 'login', param: 'eq', value: users[2].creds.login } });
      assert.equal(r.total_entries, 1);
      assert.equal(r.items[0].user.id, all[2]);

      r = await CB.users.get({ full_name: 'Zed Twin' });
      assert.equal(r.total_entries, 2);
      assert.deepEqual(r.items.map((i) => i.user.id).sort((a, b) => a - b), [all[1], all[2]]);
    });

    test('apps are isolated: the list shows only this app, ids of other apps are invisible', async () => {
      await CB.createSession();
      const r = await CB.users.get({ page: 1, per_page: 100 });
      assert.equal(r.total_entries, 5, `this app has exactly five users: ${JSON.stringify(r.items.map((i) => i.user.login))}`);
      assert.deepEqual(r.items.map((i) => i.user.id).sort((a, b) => a - b), ids());

      // a user of the main app
      useApp(ctx.main, ctx.app);
      const other = await signUpUser(CB, ctx.app.id, 'otherapp');
      useApp(ctx.main, listApp);
      await CB.createSession();
      const v2 = await CB.users.getV2({ id: { in: [other.user.id, ids()[0]] } });
      assert.deepEqual(v2.items.map((u) => u.id), [ids()[0]]);
      assert.equal(v2.total_entries, 1);
      await expectHttpError(CB.users.get(other.user.id), 404, 'a user of another app');
      await expectHttpError(CB.createSession({ login: other.creds.login, password: PASSWORD }), 401, 'logging in to the wrong app');
    });
  });

  describe('destroyed session', () => {
    test('after destroySession() calls fail with 401 + session-expired body and the hook fires', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'destroy');
      const s = await CB.createSession({ login: creds.login, password: creds.password });
      await CB.destroySession();
      assert.equal(CB.service.sdkInstance.session, null, 'the SDK forgets the session');
      assert.ok(!CB.service.getCurrentUserId(), 'the SDK forgets the current user');

      // no token at all
      await expectSessionExpired(CB.users.get(user.id), 'GET /users/{id} without a token');
      assert.equal(hook.calls, 1, 'sessionExpired fires for a missing token');

      // the destroyed token
      CB.setSession({ token: s.token });
      await expectSessionExpired(CB.users.get(user.id), 'GET /users/{id} with a destroyed token');
      assert.equal(hook.calls, 2, 'sessionExpired fires for a destroyed token');
      await expectSessionExpired(CB.users.getV2({ id: { in: [user.id] } }), 'GET /users/v2 with a destroyed token');
      assert.equal(hook.calls, 3);

      // URLs containing "session" never reach the hook (docs/protocol.md#quirk-session-expired-body)
      await expectSessionExpired(CB.getSession(), 'GET /session with a destroyed token');
      assert.equal(hook.calls, 3, 'sessionExpired is not called for /session URLs');
    });

    test('destroying an application session', async () => {
      const s = await CB.createSession();
      await CB.destroySession();
      CB.setSession({ token: s.token });
      await expectSessionExpired(CB.getSession(), 'GET /session with a destroyed app token');
      await expectSessionExpired(CB.users.getV2({ id: { in: [1] } }), 'GET /users/v2 with a destroyed app token');
    });
  });

  describe(`expired session (PALAVER_SESSION_TTL_SECS=${SHORT_TTL_SECS})`, () => {
    let ttlApp;
    let account;
    let token;

    before(async () => {
      ttlApp = await ctx.shortTtl.createApp(`sdk-${sdk.version}-ttl-${uniq(4)}`);
      useApp(ctx.shortTtl, ttlApp);
      account = await signUpUser(CB, ttlApp.id, 'expiry');
    });

    after(() => useApp(ctx.main, ctx.app));

    test('the token slides while it is used', async () => {
      const s = await CB.createSession({ login: account.creds.login, password: account.creds.password });
      token = s.token;
      // 5 calls 1 s apart: longer than the lifetime, never idle for that long
      const started = Date.now();
      for (let i = 0; i < 5; i++) {
        await sleep(1000);
        let user;
        try {
          ({ user } = await CB.users.get(account.user.id));
        } catch (err) {
          assert.fail(
            `GET /users/${account.user.id}.json #${i + 1}, ${((Date.now() - started) / 1000).toFixed(1)} s after createSession ` +
              `(previous call ~1 s earlier, TTL ${SHORT_TTL_SECS} s) answered ${err.code} ${JSON.stringify(err.info)}: ` +
              'every authenticated request must extend the session (docs/protocol.md#rest-sessions)'
          );
        }
        assert.equal(user.id, account.user.id);
      }
      assert.equal((await CB.getSession()).token, token);
      assert.equal(hook.calls, 0);
    });

    test('an idle token expires: 401 + session-expired body, the hook fires, and can renew and retry', async () => {
      assert.ok(token, 'needs the previous test');
      await sleep(SHORT_TTL_SECS * 1000 + 1500);

      await expectSessionExpired(CB.users.get(account.user.id), 'GET /users/{id} with an expired token');
      assert.equal(hook.calls, 1, 'sessionExpired fired once');
      await expectSessionExpired(CB.getSession(), 'GET /session with an expired token');
      assert.equal(hook.calls, 1, 'not for /session URLs');

      // The documented recovery: create a new session (sent with the stale CB-Token) and retry.
      let renewed;
      hook.handler = (handleResponse, retry) => {
        CB.createSession({ login: account.creds.login, password: account.creds.password })
          .then((session) => {
            renewed = session;
            retry(session);
          })
          .catch(() => handleResponse());
      };
      const { user } = await CB.users.get(account.user.id);
      assertUser(user, { id: account.user.id, login: account.creds.login });
      assert.equal(hook.calls, 2);
      assert.ok(renewed, 'the hook created a new session');
      assert.notEqual(renewed.token, token);
      assert.equal(CB.service.sdkInstance.session.token, renewed.token);
      assert.equal((await CB.getSession()).user_id, account.user.id);
    });
  });

  describe('delete account', () => {
    test('users.delete() removes the account: login fails, the token is revoked, reads give 404', async () => {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'goner');
      const s = await CB.createSession({ login: creds.login, password: creds.password });
      const res = await CB.users.delete();
      assert.ok(res === '' || typeof res === 'string', 'DELETE /users/{id} is read as text');

      const err = await expectHttpError(CB.createSession({ login: creds.login, password: PASSWORD }), 401, 'login of a deleted user');
      assert.deepEqual(err.info, { errors: ['Unauthorized'] });

      CB.setSession({ token: s.token });
      await expectSessionExpired(CB.users.get(user.id), "the deleted user's token");

      await CB.createSession();
      await expectHttpError(CB.users.get(user.id), 404, 'reading a deleted user');
      await expectHttpError(CB.users.get({ login: creds.login }), 404, 'reading a deleted login');
      const v2 = await CB.users.getV2({ id: { in: [user.id] } });
      assert.equal(v2.total_entries, 0);
      assert.deepEqual(v2.items, []);
    });
  });

  return ctx;
}

export { newCreds, signUpUser, expectHttpError, expectSessionExpired, assertUser, assertSession, PASSWORD };
