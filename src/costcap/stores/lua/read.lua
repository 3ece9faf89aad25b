-- The sums over each window, after charging expired leases.
-- KEYS: 1 leases, 2.. the counters (each once)
-- ARGV: 1 reservation key prefix, 2 expire batch, 3 tombstone ms, 4 number of windows, then per
--       window: its length and its counter indices...
-- Returns {1 if more leases may be due else 0, spent, reserved, spent, reserved, ...}
local _, more = expire_due(KEYS[1], ARGV[1], now_ms(), tonumber(ARGV[2]), ARGV[3])
local out, p = {more and 1 or 0}, 5
for w = 1, tonumber(ARGV[4]) do
  local s, r = 0, 0
  for j = 1, tonumber(ARGV[p]) do
    local v = redis.call('HMGET', KEYS[tonumber(ARGV[p + j])], 's', 'r')
    s = s + (tonumber(v[1]) or 0)
    r = r + (tonumber(v[2]) or 0)
  end
  out[2 * w] = s
  out[2 * w + 1] = r
  p = p + 1 + tonumber(ARGV[p])
end
return out
