-- Deletes up to ARGV[3] ready or scheduled jobs of the queue; running and dead jobs
-- stay. Returns how many were deleted (the driver calls again until a call deletes fewer).
local batch = tonumber(ARGV[3])
local n = 0
for _, prio in ipairs(redis.call('ZRANGE', pre .. 'prios', 0, -1)) do
  if n >= batch then
    break
  end
  local pk = pre .. 'pending:' .. prio
  local ids = redis.call('ZRANGE', pk, 0, batch - n - 1)
  forget(ids)
  call_many('ZREM', pk, ids)
  n = n + #ids
  if redis.call('ZCARD', pk) == 0 then
    redis.call('ZREM', pre .. 'prios', prio)
  end
end
return n
