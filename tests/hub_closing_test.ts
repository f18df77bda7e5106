import assert from "node:assert/strict";
import { KvTransport } from "../lib/kv/kv_transport.ts";
import { Hub } from "../lib/hub/hub.ts";

Deno.test("hub.onClosing calls back once at shutdown, at once after it, and never once cancelled", async () => {
  const kv = await Deno.openKv(":memory:");
  const hub = await Hub.open(new KvTransport(kv));
  try {
    const calls: string[] = [];
    hub.onClosing(() => calls.push("kept"));
    const cancel = hub.onClosing(() => calls.push("cancelled"));
    cancel();
    assert.deepEqual([...calls], []);
    hub.beginShutdown();
    assert.equal(hub.closing.aborted, true);
    assert.deepEqual([...calls], ["kept"]);
    hub.beginShutdown();
    assert.deepEqual([...calls], ["kept"]);
    hub.onClosing(() => calls.push("late"));
    assert.deepEqual([...calls], ["kept", "late"]);
  } finally {
    hub.close();
    kv.close();
  }
});
