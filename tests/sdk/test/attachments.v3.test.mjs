// Attachments through connectycube@3.35.3 (v3), against a real palaver server: storage.createAndUpload
// of a photo (create, upload and complete all over https://{endpoints.api} with the runner's
// certificate), its uid in a chat message, the receiver's download from storage.privateUrl / publicUrl,
// storage.update / list / delete, and a location attachment through chat and history.

import '../lib/v3-nonces.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import CB from 'connectycube-v3';
import { attachmentsSuite } from '../lib/attachments-suite.mjs';

const sdk = {
  version: 'v3',
  newInstance: () => new CB.constructor(),
  init(instance, server, app, { chatUrl }) {
    instance.init(
      { appId: app.id, authKey: app.auth_key, authSecret: app.auth_secret },
      {
        endpoints: { api: server.httpsHost, chat: server.domain },
        chatProtocol: { websocket: chatUrl },
        chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
        debug: { mode: 0 },
      }
    );
  },
};

// Without the runner's certificate v3's REST calls hang (NOTES.md #4): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  attachmentsSuite(sdk);
}
