-- Fenced acks: each (id, claims) pair in ARGV[6..] applies only while the job is
-- leased (in `running`) under that claim counter; a stale or forged receipt changes
-- nothing. ARGV[3] action, ARGV[4] parameter, ARGV[5] error line:
--   complete         deletes the job
--   release          back to pending, the attempt not counted
--   extend  lease    lease deadline = now + lease (ms)
--   retry   run_at   back to pending at run_at (ms), error recorded
--   bury    at       to dead-letter, failed at `at` (ms), error recorded
-- The fence is one ZMSCORE and one MGET per batch; complete and extend are variadic
-- too, the failure paths work job by job. Returns how many receipts were applied,
-- except extend: it returns the ids whose lease is lost (not extended).
local action, param, err = ARGV[3], ARGV[4], ARGV[5]
local known = {complete = true, extend = true, release = true, retry = true, bury = true}
if not known[action] then
  return redis.error_reply('unknown ack action ' .. tostring(action))
end
local running = pre .. 'running'
local ids, tokens = {}, {}
for i = 6, #ARGV, 2 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
end
if #ids == 0 then
  if action == 'extend' then
    return {}
  end
  return 0
end
local leased = read_many('ZMSCORE', running, ids)
local metas = read_many('MGET', nil, keys_of(meta_key, ids))
local held, claimed, attempts, lost = {}, {}, {}, {}
for i, id in ipairs(ids) do
  local claims, attempt
  if leased[i] then
    claims, attempt = split_meta(metas[i])
  end
  if claims and int(claims) == tokens[i] then
    held[#held + 1] = id
    claimed[#claimed + 1] = claims
    attempts[#attempts + 1] = attempt
  else
    lost[#lost + 1] = id
  end
end
if action == 'extend' then
  if #held > 0 then
    local deadline = int(now_ms() + tonumber(param))
    local leases = {}
    for _, id in ipairs(held) do
      leases[#leases + 1] = deadline
      leases[#leases + 1] = id
    end
    call_many('ZADD', running, leases)
  end
  return lost
end
if #held == 0 then
  return 0
end
if action == 'complete' then
  forget(held)
  call_many('ZREM', running, held)
else
  call_many('ZREM', running, held)
  for i, id in ipairs(held) do
    if action == 'bury' then
      append_error(id, err)
      redis.call('ZADD', pre .. 'dead', param, id)
    else
      local _, prio, _, run_at = header(redis.call('GET', job_key(id)))
      if action == 'release' then
        redis.call('SET', meta_key(id), join_meta(claimed[i], math.max(attempts[i] - 1, 0)))
        make_pending(id, prio, run_at)
      else
        append_error(id, err)
        make_pending(id, prio, param)
      end
    end
  end
  if action ~= 'bury' then
    wake()
  end
end
return #held
