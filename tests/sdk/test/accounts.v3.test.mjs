// Accounts and sessions through connectycube@3.35.3 (v3), against a real palaver server.
// v3 always calls https://{endpoints.api}, so every request here goes to the HTTPS
// listener; the runner (run.mjs) makes the servers use one certificate and trusts it
// through NODE_EXTRA_CA_CERTS.

import '../lib/v3-nonces.mjs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import CB from 'connectycube-v3';
import {
  accountsSuite,
  newCreds,
  signUpUser,
  expectHttpError,
  expectSessionExpired,
  assertSession,
} from '../lib/accounts-suite.mjs';

const config = (server, sessionExpired) => ({
  endpoints: { api: server.httpsHost },
  debug: { mode: 0 },
  on: { sessionExpired },
});

const sdk = {
  version: 'v3',
  CB,
  init(server, app, sessionExpired) {
    CB.init({ appId: app.id, authKey: app.auth_key, authSecret: app.auth_secret }, config(server, sessionExpired));
  },
  initWithToken(server, app, token, sessionExpired) {
    CB.init({ appId: app.id, token }, config(server, sessionExpired));
  },
};

// Without the runner's certificate every v3 call would fail TLS verification, and
// v3 never settles a request that got no HTTP response (see NOTES.md): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  const ctx = accountsSuite(sdk);

  describe('v3: specific to v3', () => {
    test('users.signup needs a session: without one it is the session-expired 401 (and the hook fires)', async () => {
      ctx.useApp(ctx.main, ctx.app); // fresh SDK instance, no token
      const creds = newCreds('v3nosession');
      await expectSessionExpired(CB.users.signup({ ...creds }), 'POST /users without a session');
      assert.equal(ctx.hook.calls, 1);
      await CB.createSession();
      await expectHttpError(CB.users.get({ login: creds.login }), 404, 'the refused sign-up created nobody');
    });

    test('createSession is signed with the auth secret; a wrong secret gives 422 Unexpected signature', async () => {
      ctx.useApp(ctx.main, { ...ctx.app, auth_secret: 'not-the-auth-secret' });
      try {
        const err = await expectHttpError(CB.createSession(), 422, 'createSession with a bad signature');
        assert.deepEqual(err.info, { errors: ['Unexpected signature'] });
        assert.equal(CB.service.sdkInstance.session, null);
        const creds = newCreds('sig');
        await expectHttpError(CB.createSession({ login: creds.login, password: creds.password }), 422, 'user createSession with a bad signature');
      } finally {
        ctx.useApp(ctx.main, ctx.app);
      }
      // and the right secret still works, for app and user sessions
      const { creds, user } = await signUpUser(CB, ctx.app.id, 'signed');
      assertSession(await CB.createSession({ login: creds.login, password: creds.password }), { appId: ctx.app.id, userId: user.id });
    });

    test('the SDK really used https://{endpoints.api}', () => {
      const url = CB.utils.getUrl('users');
      assert.equal(url, `https://${ctx.main.httpsHost}/users.json`);
    });
  });
}
