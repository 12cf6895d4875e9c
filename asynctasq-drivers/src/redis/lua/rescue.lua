-- Returns up to ARGV[3] jobs whose lease expired to pending, or to dead-letter when
-- their attempts are used up. Returns {requeued, buried}.
local now = now_ms()
local running = pre .. 'running'
local ids = redis.call('ZRANGEBYSCORE', running, '-inf', '(' .. int(now), 'LIMIT', 0, tonumber(ARGV[3]))
local requeued, buried = 0, 0
for _, id in ipairs(ids) do
  redis.call('ZREM', running, id)
  local jk = job_key(id)
  local f = redis.call('HMGET', jk, 'state', 'attempt', 'max', 'prio', 'run_at')
  if f[1] == 'r' then
    if tonumber(f[2]) >= tonumber(f[3]) then
      redis.call('HSET', jk, 'state', 'd', 'failed_at', int(now))
      append_error(jk, '{"at":' .. int(now) .. ',"attempt":' .. f[2] ..
        ',"message":"lease expired during attempt ' .. f[2] ..
        ' (the worker crashed or stopped responding)"}')
      redis.call('ZADD', pre .. 'dead', int(now), id)
      buried = buried + 1
    else
      redis.call('HSET', jk, 'state', 'p')
      make_pending(id, f[4], f[5])
      requeued = requeued + 1
    end
  end
end
if requeued > 0 then
  wake()
end
return {requeued, buried}
