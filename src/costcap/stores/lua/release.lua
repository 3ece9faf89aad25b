-- Drop a reservation; nothing is spent (a charged tombstone: give back what expiry charged).
-- KEYS: 1 leases, 2 the reservation; ARGV: 1 reservation id
-- Returns 1 released, 0 unknown id
local found = redis.call('HMGET', KEYS[2], 'd', 'c')
if not found[1] then
  return 0
end
for _, e in ipairs(cjson.decode(found[1])) do
  if found[2] == '1' then
    local spent = charged_on_expiry(e)
    if spent ~= 0 then
      redis.call('HINCRBY', e[1], 's', int(-spent))
    end
  else
    redis.call('HINCRBY', e[1], 'r', int(-tonumber(e[2])))
  end
  touch(e[1], e[3])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
