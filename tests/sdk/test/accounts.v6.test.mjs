// Accounts and sessions through connectycube@6.1.2 (v6), against a real palaver server.
// v6 talks to `endpoints.api_url` verbatim, so it uses the plain-HTTP listener here;
// one test repeats the basics over HTTPS with the runner's trusted certificate.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import CB from 'connectycube';
import {
  accountsSuite,
  newCreds,
  signUpUser,
  assertUser,
  assertSession,
} from '../lib/accounts-suite.mjs';

const config = (apiUrl, sessionExpired) => ({
  endpoints: { api_url: apiUrl },
  debug: { mode: 0 },
  on: { sessionExpired },
});

const sdk = {
  version: 'v6',
  CB,
  init(server, app, sessionExpired, apiUrl = server.httpUrl) {
    CB.init({ appId: app.id, authKey: app.auth_key }, config(apiUrl, sessionExpired));
  },
  initWithToken(server, app, token, sessionExpired) {
    CB.init({ appId: app.id, token }, config(server.httpUrl, sessionExpired));
  },
};

const ctx = accountsSuite(sdk);

describe('v6: specific to v6', () => {
  test('users.signup without any session (CB-AuthKey), then log in', async () => {
    ctx.useApp(ctx.main, ctx.app); // a fresh SDK instance holds no token
    assert.equal(CB.service.sdkInstance.session, null);
    const creds = newCreds('nosession', { tag_list: ['x', 'y'] });
    const { user } = await CB.users.signup({ ...creds });
    assertUser(user, { login: creds.login, email: creds.email, full_name: creds.full_name });
    assert.deepEqual(user.user_tags.split(',').sort(), ['x', 'y']);
    assert.equal(CB.service.sdkInstance.session, null, 'sign-up does not create a session');

    const s = await CB.createSession({ login: creds.login, password: creds.password });
    assertSession(s, { appId: ctx.app.id, userId: user.id });
  });

  test('session-less sign-up with a wrong auth key is refused and creates nobody', async () => {
    ctx.useApp(ctx.main, ctx.app);
    const creds = newCreds('badkey');
    let err;
    try {
      await CB.users.signup({ ...creds }, 'not-the-auth-key');
    } catch (e) {
      err = e;
    }
    assert.ok(err, 'sign-up with a wrong CB-AuthKey must fail');
    assert.ok(err.code >= 400 && err.code < 500, `expected a 4xx, got ${err.code} ${JSON.stringify(err.info)}`);
    await CB.createSession();
    const r = await CB.users.getV2({ login: creds.login });
    assert.equal(r.total_entries, 0);
  });

  test('the same flows work with an https:// api_url (trusted test certificate)', async () => {
    sdk.init(ctx.main, ctx.app, ctx.hook.dispatch, ctx.main.httpsUrl);
    try {
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'overtls');
      const s = await CB.createSession({ login: creds.login, password: creds.password });
      assertSession(s, { appId: ctx.app.id, userId: user.id });
      const { user: read } = await CB.users.get(user.id);
      assert.equal(read.login, creds.login);
    } finally {
      ctx.useApp(ctx.main, ctx.app);
    }
  });
});
