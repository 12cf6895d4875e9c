-- Fenced acks: each (id, claims) pair in ARGV[6..] applies only while the job is
-- running under that claim counter; a stale or forged receipt changes nothing.
-- ARGV[3] action, ARGV[4] parameter, ARGV[5] error line:
--   complete         deletes the job
--   release          back to pending, the attempt not counted
--   extend  lease    lease deadline = now + lease (ms)
--   retry   run_at   back to pending at run_at (ms), error recorded
--   bury    at       to dead-letter, failed at `at` (ms), error recorded
-- Returns how many receipts were applied.
local action, param, err = ARGV[3], ARGV[4], ARGV[5]
local running = pre .. 'running'
local deadline = nil
local applied = 0
local woke = false
local done = {}
for i = 6, #ARGV, 2 do
  local id = ARGV[i]
  local jk = job_key(id)
  local f = redis.call('HMGET', jk, 'state', 'claims', 'prio', 'run_at')
  if f[1] == 'r' and f[2] == ARGV[i + 1] then
    applied = applied + 1
    if action == 'complete' then
      redis.call('DEL', jk)
      done[#done + 1] = id
    elseif action == 'extend' then
      if not deadline then
        deadline = int(now_ms() + tonumber(param))
      end
      redis.call('ZADD', running, deadline, id)
    elseif action == 'release' then
      redis.call('HINCRBY', jk, 'attempt', -1)
      redis.call('HSET', jk, 'state', 'p')
      redis.call('ZREM', running, id)
      make_pending(id, f[3], f[4])
      woke = true
    elseif action == 'retry' then
      redis.call('HSET', jk, 'state', 'p', 'run_at', param)
      append_error(jk, err)
      redis.call('ZREM', running, id)
      make_pending(id, f[3], param)
      woke = true
    elseif action == 'bury' then
      redis.call('HSET', jk, 'state', 'd', 'failed_at', param)
      append_error(jk, err)
      redis.call('ZREM', running, id)
      redis.call('ZADD', pre .. 'dead', param, id)
    else
      return redis.error_reply('unknown ack action ' .. action)
    end
  end
end
call_many('ZREM', running, done)
if woke then
  wake()
end
return applied
