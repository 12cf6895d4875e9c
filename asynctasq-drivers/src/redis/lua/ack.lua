-- Fenced acks: ARGV[4..] holds four values per receipt (id, claims, parameter, error
-- line); each applies only while the job is leased (in `running`) under that claim
-- counter, so a stale or forged receipt changes nothing. ARGV[3] is the action:
--   complete         deletes the job
--   release          back to pending, the attempt not counted
--   extend  lease    lease deadline = now + lease (ms)
--   retry   run_at   back to pending at run_at (ms), error recorded
--   bury    at       to dead-letter, failed at `at` (ms), error recorded
-- The fence is one ZMSCORE and one MGET per batch; complete and extend are variadic
-- too, the failure paths work job by job. Returns how many receipts were applied,
-- except extend: it returns the ids whose lease it extended.
local action = ARGV[3]
local known = {complete = true, extend = true, release = true, retry = true, bury = true}
if not known[action] then
  return redis.error_reply('unknown ack action ' .. tostring(action))
end
local running = pre .. 'running'
local ids, tokens, params, errs = {}, {}, {}, {}
for i = 4, #ARGV, 4 do
  ids[#ids + 1] = ARGV[i]
  tokens[#tokens + 1] = ARGV[i + 1]
  params[#params + 1] = ARGV[i + 2]
  errs[#errs + 1] = ARGV[i + 3]
end
if #ids == 0 then
  if action == 'extend' then
    return {}
  end
  return 0
end
local leased = read_many('ZMSCORE', running, ids)
local metas = read_many('MGET', nil, keys_of(meta_key, ids))
-- The indexes of the receipts that hold their job, and their jobs' ids.
local held, held_ids, claimed, attempts = {}, {}, {}, {}
for i, id in ipairs(ids) do
  if leased[i] then
    local claims, attempt = split_meta(metas[i])
    if int(claims) == tokens[i] then
      held[#held + 1] = i
      held_ids[#held_ids + 1] = id
      claimed[i], attempts[i] = claims, attempt
    end
  end
end
if action == 'extend' then
  local now, leases = now_ms(), {}
  for _, i in ipairs(held) do
    leases[#leases + 1] = int(now + tonumber(params[i]))
    leases[#leases + 1] = ids[i]
  end
  call_many('ZADD', running, leases)
  return held_ids
end
if #held == 0 then
  return 0
end
call_many('ZREM', running, held_ids)
if action == 'complete' then
  forget(held_ids)
  return #held
end
local due
for _, i in ipairs(held) do
  local id = ids[i]
  if action == 'bury' then
    append_error(id, errs[i])
    redis.call('ZADD', pre .. 'dead', params[i], id)
  else
    local _, prio, _, run_at = header(redis.call('GET', job_key(id)))
    if action == 'release' then
      redis.call('SET', meta_key(id), join_meta(claimed[i], math.max(attempts[i] - 1, 0)))
    else
      append_error(id, errs[i])
      run_at = tonumber(params[i])
    end
    make_pending(id, prio, run_at)
    if not due or run_at < due then
      due = run_at
    end
  end
end
if due then
  wake(due)
end
return #held
