-- Load a sale from the database once; a sale already loaded is left alone.
-- KEYS: meta, buyers, reservations. ARGV: remaining, limit, starts, ends, stock, n_buyers, then buyer/qty pairs,
-- then token/value pairs.
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local n_buyers = tonumber(ARGV[6])
local i = 7
for _ = 1, n_buyers do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
local n_res = 0
while i <= #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1])
  n_res = n_res + 1
  i = i + 2
end
redis.call('HSET', KEYS[1], 'remaining', ARGV[1], 'limit', ARGV[2], 'starts', ARGV[3], 'ends', ARGV[4],
  'stock', ARGV[5], 'reserved', n_res, 'released', 0)
return 1
