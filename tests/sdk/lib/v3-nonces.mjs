/**
 * Keeps the v3 SDK's session nonces distinct within one test process.
 *
 * The v3 SDK signs a session request with a random nonce of 0–9999 and a timestamp in seconds, and the
 * server refuses a signature it has already seen as a replay (docs/protocol.md#rest-session-signature). Two
 * application sessions of one app made in the same second are then the same request once in 10,000
 * times, and the second is refused — in an app, a rare 422 that a retry cures; in this suite, which makes
 * many sessions a second, a test that fails by chance. The nonces stay random; a value drawn recently
 * is drawn again. Imported first by every v3 test file.
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const InternalUtils = require('connectycube-v3/lib/cubeInternalUtils.js');

const RECENT = 1000;
const recent = [];
const randomNonce = InternalUtils.randomNonce;

InternalUtils.randomNonce = function distinctRandomNonce() {
  let nonce;
  do {
    nonce = randomNonce.call(this);
  } while (recent.includes(nonce));
  recent.push(nonce);
  if (recent.length > RECENT) recent.shift();
  return nonce;
};
