-- Who of a batch of buyers gets units of a sale, in arrival order, in one call.
-- KEYS: meta, buyers, reservations. ARGV: now (ms), then user/quantity/token triples.
-- Returns one outcome per buyer (1 reserved, -1 sold out, -2 limit reached, -3 not running), or {-4} when the
-- sale is not loaded.
local m = redis.call('HMGET', KEYS[1], 'remaining', 'limit', 'starts', 'ends')
if not m[1] then return {-4} end
local now = tonumber(ARGV[1])
local remaining = tonumber(m[1])
local limit = tonumber(m[2])
local open = now >= tonumber(m[3]) and now < tonumber(m[4])
local out = {}
local reserved = 0
for i = 2, #ARGV, 3 do
  local user, qty, token = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if not open then
    out[#out + 1] = -3
  else
    local bought = tonumber(redis.call('HGET', KEYS[2], user) or '0')
    if bought + qty > limit then
      out[#out + 1] = -2
    elseif remaining < qty then
      out[#out + 1] = -1
    else
      remaining = remaining - qty
      reserved = reserved + 1
      redis.call('HINCRBY', KEYS[2], user, qty)
      redis.call('HSET', KEYS[3], token, qty .. ':' .. user)
      out[#out + 1] = 1
    end
  end
end
if reserved > 0 then
  redis.call('HSET', KEYS[1], 'remaining', remaining)
  redis.call('HINCRBY', KEYS[1], 'reserved', reserved)
end
return out
