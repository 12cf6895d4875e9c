-- Returns up to ARGV[3] jobs whose lease expired to pending, or to dead-letter when
-- their attempts are used up. Returns {requeued, buried}.
local now = now_ms()
local running = pre .. 'running'
local ids = redis.call('ZRANGEBYSCORE', running, '-inf', '(' .. int(now), 'LIMIT', 0, tonumber(ARGV[3]))
if #ids == 0 then
  return {0, 0}
end
call_many('ZREM', running, ids)
local metas = read_many('MGET', nil, keys_of(meta_key, ids))
local requeued, buried = 0, 0
for i, id in ipairs(ids) do
  local body = redis.call('GET', job_key(id))
  if body then
    local _, prio, max, run_at = header(body)
    local _, attempt = split_meta(metas[i])
    if attempt >= tonumber(max) then
      append_error(id, '{"at":' .. int(now) .. ',"attempt":' .. int(attempt) ..
        ',"message":"lease expired during attempt ' .. int(attempt) ..
        ' (the worker crashed or stopped responding)"}')
      redis.call('ZADD', pre .. 'dead', int(now), id)
      buried = buried + 1
    else
      make_pending(id, prio, run_at)
      requeued = requeued + 1
    end
  end
end
if requeued > 0 then
  wake()
end
return {requeued, buried}
