-- Requeues (ARGV[3] = 'requeue') or deletes (ARGV[3] = 'purge') dead jobs: the ids in
-- ARGV[5..] that are dead in this queue, or, without ids, the ARGV[4] oldest dead jobs.
-- Requeued jobs are due now with a fresh attempt count; their errors are kept.
-- Returns how many jobs were moved or deleted.
local action = ARGV[3]
local dead = pre .. 'dead'
local ids = {}
if #ARGV >= 5 then
  for i = 5, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
else
  ids = redis.call('ZRANGE', dead, 0, tonumber(ARGV[4]) - 1)
end
local now = nil
local n = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', dead, id) == 1 then
    local jk = job_key(id)
    if action == 'purge' then
      redis.call('DEL', jk)
    else
      if not now then
        now = int(now_ms())
      end
      local prio = redis.call('HGET', jk, 'prio')
      if prio then
        redis.call('HSET', jk, 'state', 'p', 'attempt', 0, 'run_at', now)
        make_pending(id, prio, now)
      end
    end
    n = n + 1
  end
end
if n > 0 and action ~= 'purge' then
  wake()
end
return n
