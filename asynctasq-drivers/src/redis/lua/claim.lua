-- Leases up to ARGV[3] due jobs of one queue for ARGV[4] milliseconds: highest
-- priority first, then earliest run_at, then smallest id (UUIDv7 text sorts by time).
-- Each claim counts an attempt and bumps the job's claim counter, the fencing token.
-- Returns six values per job: id, claims, attempt, max_attempts, task, payload.
if redis.call('EXISTS', pre .. 'paused') == 1 then
  return {}
end
local want = tonumber(ARGV[3])
local now = now_ms()
local deadline = int(now + tonumber(ARGV[4]))
local running = pre .. 'running'
local out = {}
local got = 0
local prios = redis.call('ZREVRANGE', pre .. 'prios', 0, -1)
for _, prio in ipairs(prios) do
  if got >= want then
    break
  end
  local pk = pre .. 'pending:' .. prio
  local ids = redis.call('ZRANGEBYSCORE', pk, '-inf', int(now), 'LIMIT', 0, want - got)
  if #ids > 0 then
    call_many('ZREM', pk, ids)
    local leases = {}
    for _, id in ipairs(ids) do
      local jk = job_key(id)
      local f = redis.call('HMGET', jk, 'task', 'max', 'payload', 'attempt', 'claims')
      if f[1] then
        local attempt = int(tonumber(f[4] or 0) + 1)
        local claims = int(tonumber(f[5] or 0) + 1)
        redis.call('HSET', jk, 'attempt', attempt, 'claims', claims, 'state', 'r')
        leases[#leases + 1] = deadline
        leases[#leases + 1] = id
        out[#out + 1] = id
        out[#out + 1] = claims
        out[#out + 1] = attempt
        out[#out + 1] = f[2]
        out[#out + 1] = f[1]
        out[#out + 1] = f[3]
        got = got + 1
      end
    end
    call_many('ZADD', running, leases)
  end
  if redis.call('ZCARD', pk) == 0 then
    redis.call('ZREM', pre .. 'prios', prio)
  end
end
return out
