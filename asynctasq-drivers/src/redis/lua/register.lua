-- Returns the number of queue ARGV[1], assigning the next one on first use.
-- KEYS: {<prefix>}:queues (name -> number), {<prefix>}:queue_names (number -> name),
-- {<prefix>}:queue_seq (the last number given). Numbers never change once given.
local n = redis.call('HGET', KEYS[1], ARGV[1])
if n then
  return tonumber(n)
end
n = redis.call('INCR', KEYS[3])
redis.call('HSET', KEYS[1], ARGV[1], n)
redis.call('HSET', KEYS[2], n, ARGV[1])
return n
