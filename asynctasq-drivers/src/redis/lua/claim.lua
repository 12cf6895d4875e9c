-- Leases up to ARGV[3] due jobs of one queue for ARGV[4] milliseconds: highest
-- priority first, then earliest run_at, then smallest id (UUIDv7 text sorts by time).
-- Each claim counts an attempt and bumps the job's claim counter, the fencing token.
-- Per priority level: ZRANGEBYSCORE, ZREM, MGET (bodies and metas), MSET (metas) and
-- ZADD (leases), whatever the number of jobs.
-- Returns five values per job: id, lease deadline, claims, attempt, body.
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
    local bodies = read_many('MGET', nil, keys_of(job_key, ids))
    local metas = read_many('MGET', nil, keys_of(meta_key, ids))
    local leases, updates = {}, {}
    for i, id in ipairs(ids) do
      if bodies[i] then
        local claims, attempt = split_meta(metas[i])
        claims, attempt = claims + 1, attempt + 1
        updates[#updates + 1] = meta_key(id)
        updates[#updates + 1] = join_meta(claims, attempt)
        leases[#leases + 1] = deadline
        leases[#leases + 1] = id
        out[#out + 1] = id
        out[#out + 1] = deadline
        out[#out + 1] = claims
        out[#out + 1] = attempt
        out[#out + 1] = bodies[i]
        got = got + 1
      end
    end
    call_many('MSET', nil, updates)
    call_many('ZADD', running, leases)
  end
  if redis.call('ZCARD', pk) == 0 then
    redis.call('ZREM', pre .. 'prios', prio)
  end
end
return out
