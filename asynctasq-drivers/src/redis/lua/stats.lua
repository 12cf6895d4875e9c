-- Counts one queue's jobs. Returns {ready, scheduled, running, dead, paused (0/1)}.
local now = int(now_ms())
local ready, pending = 0, 0
for _, prio in ipairs(redis.call('ZRANGE', pre .. 'prios', 0, -1)) do
  local pk = pre .. 'pending:' .. prio
  ready = ready + redis.call('ZCOUNT', pk, '-inf', now)
  pending = pending + redis.call('ZCARD', pk)
end
return {
  ready,
  pending - ready,
  redis.call('ZCARD', pre .. 'running'),
  redis.call('ZCARD', pre .. 'dead'),
  redis.call('EXISTS', pre .. 'paused'),
}
