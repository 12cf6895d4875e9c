-- Reads the jobs with ids ARGV[3..] that this queue holds (the others are skipped).
-- Returns nine values per job: id, state, task, attempt, max_attempts, priority,
-- run_at, created_at, errors.
local now = now_ms()
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local f = redis.call('HMGET', job_key(id),
    'state', 'task', 'attempt', 'max', 'prio', 'run_at', 'created', 'errors')
  if f[2] then
    -- A job never claimed has no `state` (pending) and no `attempt` (0).
    local state = 'dead'
    if f[1] == 'r' then
      state = 'running'
    elseif f[1] == 'p' or not f[1] then
      if tonumber(f[6]) > now then
        state = 'scheduled'
      else
        state = 'ready'
      end
    end
    out[#out + 1] = id
    out[#out + 1] = state
    out[#out + 1] = f[2]
    out[#out + 1] = f[3] or '0'
    for k = 4, 7 do
      out[#out + 1] = f[k]
    end
    out[#out + 1] = f[8] or ''
  end
end
return out
