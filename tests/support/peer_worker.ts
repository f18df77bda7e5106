/// <reference lib="deno.worker" />
/**
 * A worker for the peer-channel tests: joins the channel named in its first message, reports
 * every batch of updates it receives, and posts batches when asked.
 *
 * @module
 */

import { PeerChannel } from "../../lib/hub/_peer_channel.ts";
import type { StoredUpdate } from "../../lib/hub/update.ts";

let channel: PeerChannel | undefined;

self.onmessage = (event: MessageEvent<{ join?: string; post?: StoredUpdate[] }>) => {
  const { join, post } = event.data;
  if (join) {
    channel = new PeerChannel(join, (updates) => self.postMessage({ received: updates }));
    self.postMessage({ joined: true });
  }
  if (post) {
    self.postMessage({ posted: channel!.hasPeers });
    channel!.post(post);
  }
};
