-- Drop a reservation; nothing is spent (a charged tombstone: give the full charge back).
-- KEYS: 1 leases, 2 the reservation; ARGV: 1 reservation id
-- Returns 1 released, 0 unknown id
local found = redis.call('HMGET', KEYS[2], 'd', 'c')
if not found[1] then
  return 0
end
local field = found[2] == '1' and 's' or 'r'
for _, e in ipairs(cjson.decode(found[1])) do
  redis.call('HINCRBY', e[1], field, int(-tonumber(e[2])))
  touch(e[1], e[3])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
