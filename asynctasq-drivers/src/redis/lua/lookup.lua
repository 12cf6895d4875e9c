-- Reads the jobs with ids ARGV[3..] that this queue holds (the others are skipped).
-- Returns nine values per job: id, state, task, attempt, max_attempts, priority,
-- run_at, created_at, errors. A job's state is the set that holds it; a pending
-- job's run_at is its score there (a retry moves it), otherwise the dispatched one.
local now = now_ms()
local out = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  local body = redis.call('GET', job_key(id))
  if body then
    local task, prio, max, run_at, created = header(body)
    local _, attempt = split_meta(redis.call('GET', meta_key(id)))
    local state
    if redis.call('ZSCORE', pre .. 'running', id) then
      state = 'running'
    elseif redis.call('ZSCORE', pre .. 'dead', id) then
      state = 'dead'
    else
      local due = redis.call('ZSCORE', pre .. 'pending:' .. prio, id)
      if due then
        run_at = tonumber(due)
      end
      if run_at > now then
        state = 'scheduled'
      else
        state = 'ready'
      end
    end
    out[#out + 1] = id
    out[#out + 1] = state
    out[#out + 1] = task
    out[#out + 1] = int(attempt)
    out[#out + 1] = int(max)
    out[#out + 1] = int(prio)
    out[#out + 1] = int(run_at)
    out[#out + 1] = int(created)
    out[#out + 1] = redis.call('GET', errors_key(id)) or ''
  end
end
return out
