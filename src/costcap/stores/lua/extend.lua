-- Push a live lease out to `lease ms` from now (server time).
-- KEYS: 1 leases, 2 the reservation; ARGV: 1 reservation id, 2 lease ms
-- Returns 1 extended, 0 unknown, charged or already expired
local found = redis.call('HMGET', KEYS[2], 'c', 'u')
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
return 1
