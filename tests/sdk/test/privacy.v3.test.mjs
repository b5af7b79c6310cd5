// Privacy (black) lists through connectycube@3.35.3 (v3) against a real palaver server
// (lib/privacy-suite.mjs): chat.privacylist.create/getList/getNames/setAsDefault/update/delete and
// what blocked users see in 1-1 and group chats. v3's REST (the group dialog) needs the runner's
// trusted certificate.

import '../lib/v3-nonces.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import CB from 'connectycube-v3';
import { privacySuite } from '../lib/privacy-suite.mjs';
import { v3Sdk } from '../lib/sdk-adapters.mjs';

// Without the runner's certificate v3's REST calls hang (NOTES.md #4): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  privacySuite(v3Sdk(CB));
}
