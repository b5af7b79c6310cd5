// Last activity, status streaming, markActive/markInactive and call-signalling relay through
// connectycube@6.1.2 (v6) against a real palaver server (lib/activity-suite.mjs).

import CB from 'connectycube';
import { activitySuite } from '../lib/activity-suite.mjs';
import { v6Sdk } from '../lib/sdk-adapters.mjs';

activitySuite({
  ...v6Sdk(CB),
  // What WebRTCSignalingProvider.sendMessage does (src/videocalling/WebRTCSignalingProvider.ts): the
  // class is not exported and the Node build creates no videochat client (no WebRTC), so its one
  // call into the chat service is made here.
  sendCallSignal(client, toUserId, ext, signalType) {
    const extension = { ...ext, moduleIdentifier: 'WebRTCVideoChat', signalType, platform: 'node' };
    return client.chat.sendWebRTCSignalingMessage(toUserId, { extension });
  },
  // v6 hands a WebRTCVideoChat headline to `chat.webrtcSignalingProcessor.onMessage` twice: once with
  // the parsed extension (onWebRTCSignalingMessage) and once with the raw <extraParams> element.
  captureCallSignals(client) {
    const got = [];
    got.dispatches = 0;
    client.chat.webrtcSignalingProcessor = {
      onMessage(userId, extension) {
        got.dispatches += 1;
        if (extension && typeof extension.getChild !== 'function') {
          got.push({ userId, signalType: extension.signalType, sessionID: extension.sessionID, extension });
        }
      },
    };
    return got;
  },
  dispatchesPerSignal: 2,
  lastActivityOnError: undefined, // v6 rejects without calling onLastUserActivityListener
});
