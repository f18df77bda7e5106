/**
 * The Lua scripts of the Redis engine. Each runs atomically in Redis (no other command runs in
 * between), which is what makes an append contiguous across every node, a lease exclusive, and a
 * ledger update a compare-and-set. Scripts are sent by SHA (EVALSHA) and, when Redis does not know
 * them (a restart, a flush), once in full (EVAL, which also caches them).
 *
 * Keys are derived inside the scripts from the prefix passed as an argument (topic streams, id
 * keys): the engine runs on a single Redis (with replicas), not on Redis Cluster.
 *
 * @module
 */

import type { RedisClient } from "./client.ts";
import { type RespArgument, RespError, type RespValue } from "./resp.ts";

/** A script: its source, and its SHA-1 once computed. */
export class Script {
  readonly source: string;
  #sha: Promise<string> | undefined;

  constructor(source: string) {
    this.source = source;
  }

  /**
   * Runs the script with `keys` and `args`.
   *
   * @example
   * ```ts ignore
   * import assert from "node:assert/strict";
   * import { Script } from "./scripts.ts";
   * const double = new Script("return tonumber(ARGV[1]) * 2");
   * assert.equal(await double.run(client, [], [21]), 42);
   * ```
   */
  async run(
    client: RedisClient,
    keys: readonly RespArgument[],
    args: readonly RespArgument[],
  ): Promise<RespValue> {
    const sha = await (this.#sha ??= sha1(this.source));
    try {
      return await client.command(["EVALSHA", sha, keys.length, ...keys, ...args]);
    } catch (error) {
      if (!(error instanceof RespError) || error.code !== "NOSCRIPT") throw error;
      return await client.command(["EVAL", this.source, keys.length, ...keys, ...args]);
    }
  }
}

async function sha1(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((byte) => byte.toString(16).padStart(2, "0")).join("");
}

/**
 * Appends a batch at the next positions if the head is still the one the caller saw.
 * KEYS: head, global stream, topic set. ARGV: expected head, count, id ttl ms, key prefix, then
 * per update: its JSON, its time, its publisher-given id (or ""), its topic count, its topics.
 * Returns `{1, newHead}`, or `{0, currentHead}` when another writer got there first.
 */
export const APPEND = new Script(`
local head = tonumber(redis.call('GET', KEYS[1]) or '0')
if head ~= tonumber(ARGV[1]) then return {0, head} end
local count = tonumber(ARGV[2])
local ttl = ARGV[3]
local prefix = ARGV[4]
local at = 5
for i = 1, count do
  local seq = head + i
  local id = string.format('%d-0', seq)
  local json = ARGV[at]
  local time = ARGV[at + 1]
  local given = ARGV[at + 2]
  local topics = tonumber(ARGV[at + 3])
  at = at + 4
  redis.call('XADD', KEYS[2], id, 'u', json, 't', time)
  for t = 1, topics do
    local topic = ARGV[at]
    at = at + 1
    redis.call('XADD', prefix .. 'topic:' .. topic, id, 'u', json, 't', time)
    redis.call('SADD', KEYS[3], topic)
  end
  if given ~= '' then redis.call('SET', prefix .. 'id:' .. given, string.format('%d', seq), 'PX', ttl) end
end
redis.call('SET', KEYS[1], string.format('%d', head + count))
return {1, head + count}
`);

/**
 * Trims one log to its newest `keep` entries and drops entries older than a time, then records
 * the newest position deleted. A topic log left empty is removed with its name.
 * KEYS: stream, trimmed mark, topic set. ARGV: keep, oldest time kept (ms), topic name ("" for
 * the global log). Returns the entries deleted.
 */
export const TRIM = new Script(`
local function seqOf(id) return tonumber(string.match(id, '^(%d+)')) end
local keep = tonumber(ARGV[1])
local oldestTime = tonumber(ARGV[2])
local len = redis.call('XLEN', KEYS[1])
if len == 0 then return 0 end
local boundary = 0
if len > keep then
  -- The newest entry that goes, read from whichever end is nearer.
  if len - keep <= keep then
    local page = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', len - keep)
    boundary = seqOf(page[#page][1])
  else
    local page = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', keep + 1)
    boundary = seqOf(page[#page][1])
  end
end
local start = '-'
local done = false
while not done do
  local page = redis.call('XRANGE', KEYS[1], start, '+', 'COUNT', 100)
  if #page == 0 then break end
  for _, entry in ipairs(page) do
    local fields = entry[2]
    local time = 0
    for f = 1, #fields, 2 do if fields[f] == 't' then time = tonumber(fields[f + 1]) end end
    if time >= oldestTime then done = true break end
    local seq = seqOf(entry[1])
    if seq > boundary then boundary = seq end
  end
  start = '(' .. page[#page][1]
end
if boundary == 0 then return 0 end
local deleted = redis.call('XTRIM', KEYS[1], 'MINID', string.format('%d-1', boundary))
if deleted > 0 then
  local previous = tonumber(redis.call('GET', KEYS[2]) or '0')
  if boundary > previous then redis.call('SET', KEYS[2], string.format('%d', boundary)) end
end
if ARGV[3] ~= '' and redis.call('XLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[1])
  redis.call('SREM', KEYS[3], ARGV[3])
end
return deleted
`);

/**
 * The position just before the `count`-th newest entry of a stream (the oldest entry's, when it
 * has fewer; 0 when it is empty). KEYS: stream. ARGV: count.
 */
export const SEQ_BEFORE_NEWEST = new Script(`
local remaining = tonumber(ARGV[1])
local last = '+'
local seq = 0
while remaining > 0 do
  local page = redis.call('XREVRANGE', KEYS[1], last, '-', 'COUNT', math.min(remaining, 500))
  if #page == 0 then return seq end
  for _, entry in ipairs(page) do
    seq = tonumber(string.match(entry[1], '^(%d+)')) - 1
  end
  remaining = remaining - #page
  last = '(' .. page[#page][1]
end
return seq
`);

// Records: the value under KEYS[1], its member in the lexical index KEYS[2], its expiry in the
// expiry index KEYS[3]. Every write first sweeps up to 100 expired members from the indexes.
const SWEEP = `
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', nowMs, 'LIMIT', 0, 100)
for _, member in ipairs(expired) do
  if redis.call('EXISTS', ARGV[1] .. member) == 0 then redis.call('ZREM', KEYS[2], member) end
  redis.call('ZREM', KEYS[3], member)
end
local function index(ttl)
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
  if ttl ~= '' then redis.call('ZADD', KEYS[3], nowMs + tonumber(ttl), ARGV[2])
  else redis.call('ZREM', KEYS[3], ARGV[2]) end
end
`;

/**
 * Sets a record. KEYS: record, index, expiry index. ARGV: record prefix, member, value, ttl ms or
 * "", "nx" to set only when absent. Returns 1 when set.
 */
export const RECORD_SET = new Script(`${SWEEP}
if ARGV[5] == 'nx' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if ARGV[4] ~= '' then redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
else redis.call('SET', KEYS[1], ARGV[3]) end
index(ARGV[4])
return 1
`);

/**
 * Adds to a counter record. KEYS: record, index, expiry index. ARGV: record prefix, member, delta,
 * ttl ms or "" (for a new counter). Returns the new value as text.
 */
export const RECORD_ADD = new Script(`${SWEEP}
local current = redis.call('GET', KEYS[1])
local value = (tonumber(current) or 0) + tonumber(ARGV[3])
local text = string.format('%.17g', value)
if current then
  redis.call('SET', KEYS[1], text, 'KEEPTTL')
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
else
  if ARGV[4] ~= '' then redis.call('SET', KEYS[1], text, 'PX', ARGV[4])
  else redis.call('SET', KEYS[1], text) end
  index(ARGV[4])
end
return text
`);

/** Deletes a record. KEYS: record, index, expiry index. ARGV: member. */
export const RECORD_DELETE = new Script(`
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`);

/**
 * Takes a lease if it is free, expired, or the owner's. KEYS: lease. ARGV: owner, new value
 * (owner, newline, token), ttl ms. Returns 1 when taken.
 */
export const LEASE_ACQUIRE = new Script(`
local current = redis.call('GET', KEYS[1])
if current then
  local newline = string.find(current, '\\n', 1, true)
  if not newline or string.sub(current, 1, newline - 1) ~= ARGV[1] then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`);

/** Extends a lease still holding `value`. KEYS: lease. ARGV: value, ttl ms. Returns 1 if held. */
export const LEASE_RENEW = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/** Deletes a lease still holding `value`. KEYS: lease. ARGV: value. */
export const LEASE_RELEASE = new Script(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
return 1
`);

/**
 * A record transaction: writes only if every record read still holds what was read. KEYS: index,
 * expiry index, the records read, then the records written. ARGV: number read, the value read of
 * each ("" for absent), number written, then per write its member, its value ("" to delete) and
 * its ttl ms (or ""). Returns 1 when written, 0 when a record read had changed.
 */
export const RECORD_TRANSACT = new Script(`
local reads = tonumber(ARGV[1])
for i = 1, reads do
  local current = redis.call('GET', KEYS[2 + i])
  local expected = ARGV[1 + i]
  if expected == '' then
    if current then return 0 end
  elseif current ~= expected then
    return 0
  end
end
local now = redis.call('TIME')
local nowMs = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local writes = tonumber(ARGV[2 + reads])
for w = 1, writes do
  local key = KEYS[2 + reads + w]
  local at = 2 + reads + (w - 1) * 3
  local member, value, ttl = ARGV[at + 1], ARGV[at + 2], ARGV[at + 3]
  if value == '' then
    redis.call('DEL', key)
    redis.call('ZREM', KEYS[1], member)
    redis.call('ZREM', KEYS[2], member)
  else
    if ttl ~= '' then redis.call('SET', key, value, 'PX', ttl) else redis.call('SET', key, value) end
    redis.call('ZADD', KEYS[1], 0, member)
    if ttl ~= '' then redis.call('ZADD', KEYS[2], nowMs + tonumber(ttl), member)
    else redis.call('ZREM', KEYS[2], member) end
  end
end
return 1
`);
