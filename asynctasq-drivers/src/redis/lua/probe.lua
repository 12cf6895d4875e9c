-- What a waiting or multi-queue claimer needs to know about one queue.
-- Returns {paused (0/1), the highest priority with a due job or '', ms until the
-- next scheduled job is due or -1}. The last value is only computed when nothing is due.
local paused = redis.call('EXISTS', pre .. 'paused')
local now = now_ms()
local top = ''
local next_due = -1
for _, prio in ipairs(redis.call('ZREVRANGE', pre .. 'prios', 0, -1)) do
  local pk = pre .. 'pending:' .. prio
  if #redis.call('ZRANGEBYSCORE', pk, '-inf', int(now), 'LIMIT', 0, 1) > 0 then
    top = prio
    next_due = 0
    break
  end
  local nx = redis.call('ZRANGEBYSCORE', pk, '(' .. int(now), '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if #nx > 0 then
    local d = tonumber(nx[2]) - now
    if next_due < 0 or d < next_due then
      next_due = d
    end
  end
end
return {paused, top, next_due}
