/**
 * The fast path between isolates of one process: a BroadcastChannel that carries each commit's
 * updates to the other isolates, and stays silent while there are none.
 *
 * Isolates announce themselves when they open the channel (`hello`) and answer announcements
 * (`here`); until one of those arrives, posting would serialise every commit for nobody, so
 * {@linkcode PeerChannel.post} does nothing. Nothing depends on the channel for correctness:
 * updates it drops, or posts before a peer was heard, reach that peer through `kv.watch`.
 *
 * @module
 */

import type { StoredUpdate } from "./update.ts";

type PeerMessage = { updates: StoredUpdate[] } | { hello: true } | { here: true };

interface SharedChannel {
  channel: BroadcastChannel;
  hasPeers: boolean;
  receivers: Set<(updates: StoredUpdate[]) => void>;
}

const shared = new Map<string, SharedChannel>();

/** One long-lived channel per name per isolate: closing and reopening channels breaks postMessage. */
function sharedChannel(name: string): SharedChannel {
  let entry = shared.get(name);
  if (entry) return entry;
  const channel = new BroadcastChannel(name);
  const opened: SharedChannel = { channel, hasPeers: false, receivers: new Set() };
  channel.onmessage = (event: MessageEvent<PeerMessage>) => {
    const message = event.data;
    if ("updates" in message) {
      opened.hasPeers = true;
      for (const receive of opened.receivers) receive(message.updates);
      return;
    }
    opened.hasPeers = true;
    if ("hello" in message) send(channel, { here: true });
  };
  send(channel, { hello: true });
  entry = opened;
  shared.set(name, entry);
  return entry;
}

function send(channel: BroadcastChannel, message: PeerMessage): void {
  try {
    channel.postMessage(message);
  } catch {
    // The channel is best effort: peers catch up through kv.watch.
  }
}

/**
 * A subscription to a named channel shared by every isolate of the process.
 */
export class PeerChannel {
  #entry: SharedChannel;
  #receive: (updates: StoredUpdate[]) => void;

  /** Opens (or joins this isolate's) channel `name`; `receive` gets other isolates' updates. */
  constructor(name: string, receive: (updates: StoredUpdate[]) => void) {
    this.#entry = sharedChannel(name);
    this.#receive = receive;
    this.#entry.receivers.add(receive);
  }

  /**
   * Whether another isolate has been heard on this channel.
   */
  get hasPeers(): boolean {
    return this.#entry.hasPeers;
  }

  /**
   * Sends updates to the other isolates, when there are any.
   */
  post(updates: StoredUpdate[]): void {
    if (this.#entry.hasPeers) send(this.#entry.channel, { updates });
  }

  /**
   * Stops receiving; the shared channel itself stays open for the isolate's next user.
   */
  close(): void {
    this.#entry.receivers.delete(this.#receive);
  }
}
