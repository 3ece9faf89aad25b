-- Reserve every charge or none, after charging expired leases.
-- KEYS: 1 leases, 2 the reservation, 3.. the counters (each once)
-- ARGV: 1 reservation key prefix, 2 expire batch, 3 tombstone ms, 4 reservation id, 5 lease ms,
--       6 reservation data (JSON), 7 number of charges, then per charge: counter index, limit,
--       amount, hard (1/0), ttl ms, window length, window counter indices...
-- Returns {admitted 1/0 (-1: id in use), refused index or -1, spent, reserved, spent, ...}; an
-- amount outside 0..MAX_AMOUNT (or a lease or ttl that is not a whole number) is an error reply,
-- sent before anything is written
if not whole(ARGV[5]) then
  return out_of_range('lease ms', ARGV[5], '999999999999999999')
end
local p = 8
for c = 1, tonumber(ARGV[7]) do
  if not amount_ok(ARGV[p + 2]) then
    return out_of_range('amount', ARGV[p + 2], int(MAX_AMOUNT))
  end
  if not whole(ARGV[p + 4]) then
    return out_of_range('ttl ms', ARGV[p + 4], '999999999999999999')
  end
  p = p + 6 + tonumber(ARGV[p + 5])
end

local now = now_ms()
expire_due(KEYS[1], ARGV[1], now, tonumber(ARGV[2]), ARGV[3])
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {-1, -1}
end

local spent, reserved = {}, {}
for i = 3, #KEYS do
  local v = redis.call('HMGET', KEYS[i], 's', 'r')
  spent[i] = tonumber(v[1]) or 0
  reserved[i] = tonumber(v[2]) or 0
end

local out, charges, refused = {1, -1}, {}, -1
p = 8
for c = 1, tonumber(ARGV[7]) do
  local s, r = 0, 0
  for j = 1, tonumber(ARGV[p + 5]) do
    local k = tonumber(ARGV[p + 5 + j])
    s = s + spent[k]
    r = r + reserved[k]
  end
  if refused < 0 and ARGV[p + 3] == '1' and s + r + tonumber(ARGV[p + 2]) > tonumber(ARGV[p + 1]) then
    refused = c - 1
  end
  charges[c] = {KEYS[tonumber(ARGV[p])], ARGV[p + 2], ARGV[p + 4]}
  out[2 * c + 1] = s
  out[2 * c + 2] = r
  p = p + 6 + tonumber(ARGV[p + 5])
end
if refused >= 0 then
  out[1], out[2] = 0, refused
  return out
end

for c, ch in ipairs(charges) do
  redis.call('HINCRBY', ch[1], 'r', ch[2])
  touch(ch[1], ch[3])
  out[2 * c + 2] = out[2 * c + 2] + tonumber(ch[2])
end
local lease_until = int(now + tonumber(ARGV[5]))
redis.call('HSET', KEYS[2], 'd', ARGV[6], 'u', lease_until, 'c', '0')
redis.call('ZADD', KEYS[1], lease_until, ARGV[4])
return out
