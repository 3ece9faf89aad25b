-- Replace a reservation by the actual amounts (a charged tombstone: correct spent by
-- actual - what expiry charged, which is the amount for a "spend" entry and 0 for a "release" one).
-- KEYS: 1 leases, 2 the reservation; ARGV: 1 reservation id, 2.. actuals (one per charge)
-- Returns 1 settled, 0 unknown id, -n wrong number of actuals (n charges; nothing changed); an
-- actual outside 0..MAX_AMOUNT is an error reply, sent before anything is written
local found = redis.call('HMGET', KEYS[2], 'd', 'c')
if not found[1] then
  return 0
end
local entries = cjson.decode(found[1])
if #entries ~= #ARGV - 1 then
  return -#entries - 1
end
for i = 2, #ARGV do
  if not amount_ok(ARGV[i]) then
    return out_of_range('actual', ARGV[i], int(MAX_AMOUNT))
  end
end
for i, e in ipairs(entries) do
  local actual = ARGV[i + 1]
  if found[2] == '1' then
    redis.call('HINCRBY', e[1], 's', int(tonumber(actual) - charged_on_expiry(e)))
  else
    redis.call('HINCRBY', e[1], 'r', int(-tonumber(e[2])))
    redis.call('HINCRBY', e[1], 's', actual)
  end
  touch(e[1], e[3])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
