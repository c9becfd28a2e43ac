package cache

import "github.com/redis/go-redis/v9"

// The Lua scripts that make reads and deltas atomic against a version switch: Redis runs a
// script alone, so a lookup reads the current version's pointer, bucket count and record
// in one step and never a half-switched mixture. Key names are built inside the scripts
// from the prefix in ARGV[1]; KEYS[1] is always P .. 'current', only so that a cluster
// client routes the script (a single Redis ignores it).
//
// Redis Cluster runs a script only on the node holding its keys' slot, and every key a
// script touches must be in that slot. So in a cluster the prefix must carry a hash tag
// (default "{onestop:elig}:"; NewRedisStore refuses a prefix without one): every key of one
// store, the pub/sub channel included, hashes to one slot. The trade-off: the whole snapshot
// sits on one shard (10 M persons ≈ 1.7 GiB, see the README), so for eligibility the cluster
// gives failover, not sharding; the loader's pipelines and the readers all go to that
// shard's primary. Sharding would need a slot per bucket range and a version pointer on each
// shard (a switch is then no longer one atomic step: readers would have to pin a version
// read from one place and find it on every shard). A single Redis keeps the untagged layout
// below, so existing deployments' keys do not move.
//
// Layout under the prefix P (default "onestop:elig:", in a cluster "{onestop:elig}:"):
//
//	P current             the version readers use
//	P loading             the version a load is writing (with a TTL the loader keeps alive)
//	P seq                 INCR'd for each new version
//	P v<N>:meta           hash: buckets, persons, state, loaded_at, switched_at, source
//	P v<N>:p:<bucket>     hash: person field (16 bytes of the ID's HMAC) → record
//	P v<N>:c:<bucket>     hash: card field (16 bytes of the card's HMAC) → 32-byte person key
//	P events              pub/sub: "switch <N>" and "person <field hex> <old card hex|-> <new card hex|->"
//
// A bucket is the field's first 4 bytes, big-endian, modulo the version's bucket count:
// a few hundred fields to a hash keeps Redis's per-key overhead off each person.

const luaBucket = `
local function bucket(f, n)
  local a, b, c, d = string.byte(f, 1, 4)
  return string.format('%d', (((a * 256 + b) * 256 + c) * 256 + d) % n)
end
`

// lookupScript: ARGV prefix, kind ('p' person field or 'c' card field), field.
// Returns {} with no current version, else {version, record or false, person key or false}.
var lookupScript = redis.NewScript(luaBucket + `
local P = ARGV[1]
local v = redis.call('GET', P .. 'current')
if not v then return {} end
local base = P .. 'v' .. v .. ':'
local n = tonumber(redis.call('HGET', base .. 'meta', 'buckets'))
if not n then return {} end
local f = ARGV[3]
local key = false
if ARGV[2] == 'c' then
  key = redis.call('HGET', base .. 'c:' .. bucket(f, n), f)
  if not key then return {v, false, false} end
  f = string.sub(key, 1, 16)
end
local rec = redis.call('HGET', base .. 'p:' .. bucket(f, n), f)
return {v, rec, key}
`)

// deltaScript applies one person's change to the current version and, when a load is
// running, to the version being loaded (there as a tombstone for a removal, so the load's
// older line cannot bring the person back). ARGV: prefix, op ('put' or 'del'), person
// field, 32-byte person key, record (put), new card field (” for none).
// Returns the old card field (” for none) of the current version.
var deltaScript = redis.NewScript(luaBucket + `
local P, op, f, key, rec, card = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local oldcard = ''
local function apply(v, loading)
  local base = P .. 'v' .. v .. ':'
  local n = tonumber(redis.call('HGET', base .. 'meta', 'buckets'))
  if not n then return end
  local pb = base .. 'p:' .. bucket(f, n)
  local old = redis.call('HGET', pb, f)
  if old and string.byte(old, 1) == 1 and string.byte(old, 2) == 16 then
    local oc = string.sub(old, 3, 18)
    if not loading then oldcard = oc end
    if oc ~= card then
      local cb = base .. 'c:' .. bucket(oc, n)
      if redis.call('HGET', cb, oc) == key then redis.call('HDEL', cb, oc) end
    end
  end
  if op == 'put' then
    redis.call('HSET', pb, f, rec)
    if card ~= '' then redis.call('HSET', base .. 'c:' .. bucket(card, n), card, key) end
  elseif loading then
    redis.call('HSET', pb, f, '\0')
  else
    redis.call('HDEL', pb, f)
  end
end
local cur = redis.call('GET', P .. 'current')
local ld = redis.call('GET', P .. 'loading')
if not cur and not ld then return redis.error_reply('NOSNAPSHOT no snapshot is loaded: load one before applying deltas') end
if cur then apply(cur, false) end
if ld and ld ~= cur then apply(ld, true) end
return oldcard
`)

// switchScript makes the loaded version current if this loader still holds the loading
// mark. ARGV: prefix, version, now (RFC 3339). Returns the previous version (” for none).
var switchScript = redis.NewScript(`
local P, v = ARGV[1], ARGV[2]
if redis.call('GET', P .. 'loading') ~= v then
  return redis.error_reply('LOSTLOAD the loading mark expired or was taken: the load is abandoned')
end
local old = redis.call('GET', P .. 'current') or ''
redis.call('SET', P .. 'current', v)
redis.call('DEL', P .. 'loading')
redis.call('HSET', P .. 'v' .. v .. ':meta', 'state', 'current', 'switched_at', ARGV[3])
if old ~= '' then redis.call('HSET', P .. 'v' .. old .. ':meta', 'state', 'expiring') end
redis.call('PUBLISH', P .. 'events', 'switch ' .. v)
return old
`)

// keepLoadingScript extends the loading mark's TTL while this loader holds it.
// ARGV: prefix, version, ttl ms. Returns 1 when extended, 0 when lost.
var keepLoadingScript = redis.NewScript(`
if redis.call('GET', ARGV[1] .. 'loading') == ARGV[2] then
  return redis.call('PEXPIRE', ARGV[1] .. 'loading', ARGV[3])
end
return 0
`)
