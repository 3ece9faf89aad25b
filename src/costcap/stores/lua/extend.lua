-- Push a live lease out to `lease ms` from now (server time), and keep the reservation's counters
-- until then (each for its ttl after that, as expiry writes to them when the lease ends): a
-- counter dropped while it holds the reservation would forget it (a concurrency slot has no
-- window to leave, and the lease's end would then take the slot from a fresh count).
-- KEYS: 1 leases, 2 the reservation; ARGV: 1 reservation id, 2 lease ms
-- Returns 1 extended, 0 unknown, charged or already expired
local found = redis.call('HMGET', KEYS[2], 'c', 'u', 'd')
if found[1] ~= '0' then
  return 0
end
local now = now_ms()
if tonumber(found[2]) <= now then
  return 0
end
local lease_until = int(now + tonumber(ARGV[2]))
redis.call('HSET', KEYS[2], 'u', lease_until)
redis.call('ZADD', KEYS[1], lease_until, ARGV[1])
for _, e in ipairs(cjson.decode(found[3])) do
  touch(e[1], int(tonumber(ARGV[2]) + tonumber(e[3])))
end
return 1
