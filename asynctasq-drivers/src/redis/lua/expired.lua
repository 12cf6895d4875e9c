-- Reports up to ARGV[3] running jobs whose lease expired before ARGV[4] (ms; the
-- server's TIME when empty), earliest expiry first. Moves no job: the rescuer decides
-- and acts through the fenced acks. Only an id left in `running` without a body
-- (its keys deleted by something else) is dropped from it, so it cannot fill every batch.
-- Returns five values per job: id, lease deadline, claims, attempt, body.
local now = ARGV[4] ~= '' and tonumber(ARGV[4]) or now_ms()
local running = pre .. 'running'
local found = redis.call('ZRANGEBYSCORE', running, '-inf', '(' .. int(now), 'WITHSCORES', 'LIMIT', 0,
  tonumber(ARGV[3]))
local ids, deadlines = {}, {}
for i = 1, #found, 2 do
  ids[#ids + 1] = found[i]
  deadlines[#deadlines + 1] = found[i + 1]
end
if #ids == 0 then
  return {}
end
local bodies = read_many('MGET', nil, keys_of(job_key, ids))
local metas = read_many('MGET', nil, keys_of(meta_key, ids))
local out, orphans = {}, {}
for i, id in ipairs(ids) do
  if bodies[i] then
    local claims, attempt = split_meta(metas[i])
    out[#out + 1] = id
    out[#out + 1] = deadlines[i]
    out[#out + 1] = claims
    out[#out + 1] = attempt
    out[#out + 1] = bodies[i]
  else
    orphans[#orphans + 1] = id
  end
end
if #orphans > 0 then
  call_many('ZREM', running, orphans)
end
return out
