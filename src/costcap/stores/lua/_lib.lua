-- Shared by every costcap script: prepended to each one when it is loaded.
--
-- Lua numbers are doubles: amounts and sums are exact up to 2^53. Numbers go back into Redis only
-- through int() (tostring would write 1e+15); counters change only by HINCRBY on the server.

local function int(n)
  return string.format('%d', n)
end

-- The largest amount one charge or actual may carry (MAX_AMOUNT in costcap/stores/_base.py,
-- filled in when the script is loaded). Sums stay exact well above it (up to 2^53).
local MAX_AMOUNT = @MAX_AMOUNT@

-- Whether the argument `s` is a whole number of at most 18 digits (a TTL or lease in ms).
local function whole(s)
  return #s <= 18 and string.find(s, '^%d+$') ~= nil
end

-- Whether the argument `s` is an amount HINCRBY can take and sums keep exact: 0..MAX_AMOUNT.
local function amount_ok(s)
  return whole(s) and tonumber(s) <= MAX_AMOUNT
end

-- The reply for an argument out of range (`most`: the largest it may be, as text). Scripts check
-- every argument before their first write: a script that fails halfway keeps what it wrote.
local function out_of_range(what, s, most)
  return redis.error_reply('COSTCAP_RANGE ' .. what .. ' ' .. s .. ' is not a whole number in 0..'
    .. most)
end

-- The server's clock in milliseconds: every replica agrees on when a lease ends.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Keep a counter at least ttl_ms longer; a longer TTL already set is never shortened.
local function touch(key, ttl_ms)
  if redis.call('PTTL', key) < tonumber(ttl_ms) then
    redis.call('PEXPIRE', key, ttl_ms)
  end
end

-- What a lease that ran out charged to spent for one reservation entry [counter key, amount,
-- ttl ms, spend]: the amount when spend is 1, nothing when it is 0 (a concurrency slot, only
-- freed). Entries written before the flag existed have three elements and mean "spend".
local function charged_on_expiry(e)
  if e[4] == 0 or e[4] == '0' then
    return 0
  end
  return tonumber(e[2])
end

-- Expire up to `batch` reservations whose lease ran out by `now`: free each entry's reservation,
-- charging "spend" entries in full to spent, and keep each as a tombstone for tomb_ms so a late
-- settle or release can still correct it.
-- Returns how many were expired and whether more may be due.
local function expire_due(leases, rprefix, now, batch, tomb_ms)
  local ids = redis.call('ZRANGEBYSCORE', leases, '-inf', int(now), 'LIMIT', 0, batch)
  local charged = 0
  for _, id in ipairs(ids) do
    redis.call('ZREM', leases, id)
    local rkey = rprefix .. id
    local found = redis.call('HMGET', rkey, 'd', 'c')
    if found[1] and found[2] == '0' then
      for _, e in ipairs(cjson.decode(found[1])) do
        redis.call('HINCRBY', e[1], 'r', int(-tonumber(e[2])))
        local spend = charged_on_expiry(e)
        if spend ~= 0 then
          redis.call('HINCRBY', e[1], 's', int(spend))
        end
        touch(e[1], e[3])
      end
      redis.call('HSET', rkey, 'c', '1')
      redis.call('PEXPIRE', rkey, tomb_ms)
      charged = charged + 1
    end
  end
  return charged, #ids == batch
end

