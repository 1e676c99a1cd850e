-- Give reservations back (idempotent by token: a token already released is skipped).
-- KEYS: meta, buyers, reservations. ARGV: tokens. Returns how many of them this call released.
local released = 0
for i = 1, #ARGV do
  local v = redis.call('HGET', KEYS[3], ARGV[i])
  if v then
    local sep = string.find(v, ':', 1, true)
    local qty = tonumber(string.sub(v, 1, sep - 1))
    local user = string.sub(v, sep + 1)
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('HINCRBY', KEYS[1], 'remaining', qty)
    redis.call('HINCRBY', KEYS[1], 'released', 1)
    if redis.call('HINCRBY', KEYS[2], user, -qty) <= 0 then redis.call('HDEL', KEYS[2], user) end
    released = released + 1
  end
end
return released
