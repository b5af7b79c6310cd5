// The chat adapters of test/chat.v6.test.mjs and test/chat.v3.test.mjs as functions of the SDK
// module, for test files that need the same SdkChatClient set-up (lib/chat-suite.mjs) without
// importing both SDKs into one process.

/** connectycube@6 (`import CB from 'connectycube'`): REST over plain HTTP, chat to chatUrl. */
export function v6Sdk(CB) {
  return {
    version: 'v6',
    newInstance: () => new CB.ConnectyCube(),
    init(instance, server, app, { chatUrl }) {
      instance.init(
        { appId: app.id, authKey: app.auth_key },
        {
          endpoints: { api_url: server.httpUrl, chat: server.domain, chat_url: chatUrl },
          chat: { streamManagement: { enable: true }, reconnect: { enable: true, timeInterval: 1 } },
          debug: { mode: 0 },
        }
      );
    },
    mechanism: 'SCRAM-SHA-1',
    authElement: 'authenticate',
    connectResolvesWith: true,
    canUseTls: !!(process.env.PALAVER_TLS_CERT && process.env.NODE_EXTRA_CA_CERTS),
  };
}

/** connectycube@3 (`import CB from 'connectycube-v3'`): REST only over HTTPS (needs the runner's certificate). */
export function v3Sdk(CB) {
  return {
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
    mechanism: 'PLAIN',
    authElement: 'auth',
    connectResolvesWith: undefined,
    canUseTls: true,
  };
}
