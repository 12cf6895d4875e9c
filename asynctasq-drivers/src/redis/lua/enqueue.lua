-- Inserts jobs into one queue.
-- ARGV[3..]: six values per job: id, task, priority, max_attempts, run_at (ms), payload.
-- A job whose id is already stored is skipped, so a retried enqueue does not duplicate it.
-- Returns how many jobs were inserted.
local now = int(now_ms())
local inserted = 0
local levels = {}
for i = 3, #ARGV, 6 do
  local id = ARGV[i]
  local jk = job_key(id)
  if redis.call('EXISTS', jk) == 0 then
    local prio, run_at = ARGV[i + 2], ARGV[i + 4]
    redis.call('HSET', jk,
      'task', ARGV[i + 1], 'prio', prio, 'max', ARGV[i + 3], 'run_at', run_at,
      'payload', ARGV[i + 5], 'created', now, 'attempt', 0, 'claims', 0, 'state', 'p')
    redis.call('ZADD', pre .. 'pending:' .. prio, run_at, id)
    levels[prio] = true
    inserted = inserted + 1
  end
end
for prio in pairs(levels) do
  redis.call('ZADD', pre .. 'prios', prio, prio)
end
if inserted > 0 then
  wake()
end
return inserted
