// Last activity, status streaming, markActive/markInactive and call-signalling relay through
// connectycube@3.35.3 (v3) against a real palaver server (lib/activity-suite.mjs). The call signals
// go through v3's own WebRTCSignalingProvider / WebRTCSignalingProcessor classes (the Node build
// creates no videochat client, having no WebRTC).

import '../lib/v3-nonces.mjs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import CB from 'connectycube-v3';
import { activitySuite } from '../lib/activity-suite.mjs';
import { v3Sdk } from '../lib/sdk-adapters.mjs';

const require = createRequire(import.meta.url);
const SignalingProvider = require('connectycube-v3/lib/videocalling/cubeWebRTCSignalingProvider.js');
const SignalingProcessor = require('connectycube-v3/lib/videocalling/cubeWebRTCSignalingProcessor.js');

const adapter = {
  ...v3Sdk(CB),
  sendCallSignal(client, toUserId, ext, signalType) {
    new SignalingProvider(client.chat.xmppClient).sendMessage(toUserId, { ...ext }, signalType);
  },
  captureCallSignals(client) {
    const got = [];
    got.dispatches = 0;
    const record = (signalType) => (userId, sessionID, extension) => got.push({ userId, signalType, sessionID, extension });
    const processor = new SignalingProcessor({
      _onCallListener: record('call'),
      _onAcceptListener: record('accept'),
      _onRejectListener: record('reject'),
      _onStopListener: record('hangUp'),
      _onIceCandidatesListener: record('iceCandidates'),
      _onIceRestartListener: record('iceRestart'),
      _onIceRestartAcceptListener: record('iceRestartAccept'),
    });
    const onMessage = processor._onMessage.bind(processor);
    processor._onMessage = (...args) => {
      got.dispatches += 1;
      return onMessage(...args);
    };
    client.chat.webrtcSignalingProcessor = processor;
    return got;
  },
  dispatchesPerSignal: 1,
  // v3 parses the error reply as a last-activity result before rejecting: the listener gets the
  // queried id and +null = 0 seconds, i.e. "online" (NOTES.md).
  lastActivityOnError: 0,
};

// Without the runner's certificate v3's REST calls hang (NOTES.md #4): fail fast instead.
if (!process.env.PALAVER_TLS_CERT) {
  test('v3 needs a trusted certificate', () => {
    assert.fail('v3 only speaks HTTPS: run this file through `node run.mjs`, which provides a trusted certificate');
  });
} else {
  activitySuite(adapter);
}
