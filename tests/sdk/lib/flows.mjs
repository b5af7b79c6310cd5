// Shared helpers for the SDK conformance tests: assertions on the SDK's error
// objects and on the wire objects, plus small account flows that v6 and v3
// express with the same public calls.

import assert from 'node:assert/strict';
import { uniq } from './server.mjs';

export const SESSION_EXPIRED_BODY = Object.freeze({ errors: { base: ['Required session does not exist'] } });
export const PASSWORD = 'Passw0rd-one';
export const NEW_PASSWORD = 'Passw0rd-two';
const ISO_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/**
 * Awaits an SDK call that must fail with HTTP `code`; returns the SDK's error
 * object `{code, info}` (info = parsed JSON body).
 */
export async function expectHttpError(promise, code, what = 'call') {
  let value;
  try {
    value = await promise;
  } catch (err) {
    assert.ok(err && typeof err === 'object', `${what}: rejected with a non-object ${String(err)}`);
    assert.equal(err.code, code, `${what}: expected HTTP ${code}, got ${err.code} with body ${JSON.stringify(err.info)}`);
    return err;
  }
  assert.fail(`${what}: expected HTTP ${code}, but it succeeded with ${JSON.stringify(value)}`);
}

/** The session-expired contract: 401 and exactly {"errors":{"base":["Required session does not exist"]}}. */
export async function expectSessionExpired(promise, what = 'call') {
  const err = await expectHttpError(promise, 401, what);
  assert.deepEqual(err.info, SESSION_EXPIRED_BODY, `${what}: 401 body`);
  return err;
}

/** Checks a User object as the SDK hands it to the app (docs/protocol.md#object-user). */
export function assertUser(user, expected = {}) {
  assert.ok(user && typeof user === 'object', `expected a user object, got ${JSON.stringify(user)}`);
  assert.equal(typeof user.id, 'number', `user.id must be a JSON number: ${JSON.stringify(user)}`);
  assert.ok(Number.isInteger(user.id) && user.id > 0, `user.id must be a positive integer: ${user.id}`);
  for (const k of ['login', 'email', 'full_name', 'custom_data', 'user_tags', 'created_at', 'updated_at']) {
    assert.ok(k in user, `user object lacks "${k}": ${JSON.stringify(user)}`);
  }
  assert.match(user.created_at, ISO_DATE, 'user.created_at');
  assert.match(user.updated_at, ISO_DATE, 'user.updated_at');
  assert.ok(!('password' in user), 'user object must never carry the password');
  assert.ok(!('old_password' in user), 'user object must never carry old_password');
  assert.ok(user.user_tags === null || typeof user.user_tags === 'string', `user_tags must be a string or null (docs/protocol.md#quirk-user-tags-string): ${JSON.stringify(user.user_tags)}`);
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(user[k], v, `user.${k}`);
  }
}

/** Checks a Session object (docs/protocol.md#object-session). */
export function assertSession(session, { appId, userId } = {}) {
  assert.ok(session && typeof session === 'object', `expected a session object, got ${JSON.stringify(session)}`);
  assert.equal(typeof session.token, 'string', 'session.token');
  assert.ok(session.token.length >= 16, `session.token looks too short: ${session.token}`);
  assert.equal(typeof session.id, 'number', 'session.id');
  if (appId !== undefined) assert.equal(Number(session.application_id), Number(appId), 'session.application_id');
  assert.equal(typeof session.application_id, 'number', 'session.application_id must be a JSON number');
  if (userId === null) {
    assert.ok(session.user_id === null || session.user_id === 0, `application session must have user_id null or 0, got ${session.user_id}`);
  } else if (userId !== undefined) {
    assert.equal(session.user_id, userId, 'session.user_id');
  }
  assert.match(session.created_at, ISO_DATE, 'session.created_at');
  assert.match(session.updated_at, ISO_DATE, 'session.updated_at');
}

/** Fresh, unique credentials. Logins are lowercase alphanumerics so any login rule accepts them. */
export function newCreds(prefix = 'user', extra = {}) {
  const tag = uniq(8);
  return {
    login: `${prefix}${tag}`,
    email: `${prefix}${tag}@example.com`,
    password: PASSWORD,
    full_name: `${prefix[0].toUpperCase()}${prefix.slice(1)} ${tag}`,
    ...extra,
  };
}

/**
 * Signs a user up the way every app can (application session + users.signup)
 * and returns {creds, user}. Leaves the SDK holding the application session.
 */
export async function signUpUser(CB, appId, prefix = 'user', extra = {}) {
  const creds = newCreds(prefix, extra);
  await CB.createSession();
  const res = await CB.users.signup({ ...creds });
  assert.ok(res && res.user, `signup must answer {"user": …}, got ${JSON.stringify(res)}`);
  assertUser(res.user, { login: creds.login, email: creds.email, full_name: creds.full_name });
  return { creds, user: res.user };
}

/** Mutable sessionExpired hook: the SDK config gets `dispatch`, tests swap `handler`. */
export function makeExpiryHook() {
  const hook = {
    calls: 0,
    // default: record and let the SDK reject with the original error
    handler: (handleResponse /* , retry */) => handleResponse(),
    dispatch(handleResponse, retry) {
      hook.calls += 1;
      return hook.handler(handleResponse, retry);
    },
    reset() {
      hook.calls = 0;
      hook.handler = (handleResponse) => handleResponse();
    },
  };
  return hook;
}
