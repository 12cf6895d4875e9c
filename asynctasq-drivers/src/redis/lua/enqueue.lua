-- Inserts jobs into one queue.
-- ARGV[3..]: six values per job: id, task, priority, max_attempts, run_at (ms), payload.
-- A job whose id is already stored is skipped, so a retried enqueue does not duplicate it.
-- A new job's hash holds only what enqueue knows; `state`, `attempt` and `claims`
-- are written by the first claim, and until then their absence means pending, 0, 0.
-- Each priority level's sorted set gets one ZADD per batch.
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
      'payload', ARGV[i + 5], 'created', now)
    local members = levels[prio]
    if not members then
      members = {}
      levels[prio] = members
    end
    members[#members + 1] = run_at
    members[#members + 1] = id
    inserted = inserted + 1
  end
end
for prio, members in pairs(levels) do
  call_many('ZADD', pre .. 'pending:' .. prio, members)
  redis.call('ZADD', pre .. 'prios', prio, prio)
end
if inserted > 0 then
  wake()
end
return inserted
