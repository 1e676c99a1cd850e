-- A sale ended early by ops. KEYS: meta. ARGV: starts, ends (ms). Nothing to do if Redis does not hold the sale:
-- it is loaded from the database, new window included, when next needed.
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'starts', ARGV[1], 'ends', ARGV[2])
return 1
