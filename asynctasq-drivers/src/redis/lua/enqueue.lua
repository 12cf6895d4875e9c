-- Inserts jobs into one queue.
-- ARGV[3..]: four values per job: id, priority, run_at (ms), body (see job_key).
-- A job whose id is already stored is skipped, so a retried enqueue does not duplicate it.
-- A batch is one MGET (which ids exist), one MSET (the bodies) and one ZADD per
-- priority level. Returns how many jobs were inserted.
local keys = {}
for i = 3, #ARGV, 4 do
  keys[#keys + 1] = job_key(ARGV[i])
end
local stored = read_many('MGET', nil, keys)
local bodies = {}
local levels = {}
local inserted = 0
local due
for k = 1, #keys do
  if not stored[k] then
    local i = 3 + (k - 1) * 4
    local prio = ARGV[i + 1]
    bodies[#bodies + 1] = keys[k]
    bodies[#bodies + 1] = ARGV[i + 3]
    local members = levels[prio]
    if not members then
      members = {}
      levels[prio] = members
    end
    members[#members + 1] = ARGV[i + 2]
    members[#members + 1] = ARGV[i]
    inserted = inserted + 1
    local run_at = tonumber(ARGV[i + 2])
    if not due or run_at < due then
      due = run_at
    end
  end
end
call_many('MSET', nil, bodies)
for prio, members in pairs(levels) do
  call_many('ZADD', pre .. 'pending:' .. prio, members)
  redis.call('ZADD', pre .. 'prios', prio, prio)
end
if due then
  wake(due)
end
return inserted
