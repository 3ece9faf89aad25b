-- Charge up to one batch of expired reservations in full.
-- KEYS: 1 leases; ARGV: 1 reservation key prefix, 2 batch, 3 tombstone ms
-- Returns {charged, 1 if more may be due else 0}
local charged, more = expire_due(KEYS[1], ARGV[1], now_ms(), tonumber(ARGV[2]), ARGV[3])
return {charged, more and 1 or 0}
