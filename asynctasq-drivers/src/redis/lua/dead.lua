-- Requeues (ARGV[3] = 'requeue') or deletes (ARGV[3] = 'purge') dead jobs: the ids in
-- ARGV[5..] that are dead in this queue, or, without ids, the ARGV[4] oldest dead jobs.
-- Requeued jobs are due now with a fresh attempt count (the claim counter goes on, so
-- old receipts stay fenced out); their errors are kept.
-- Returns how many jobs were moved or deleted.
local action = ARGV[3]
local dead = pre .. 'dead'
local ids = {}
if #ARGV >= 5 then
  for i = 5, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
else
  ids = redis.call('ZRANGE', dead, 0, tonumber(ARGV[4]) - 1)
end
local moved = {}
for _, id in ipairs(ids) do
  if redis.call('ZREM', dead, id) == 1 then
    moved[#moved + 1] = id
  end
end
if #moved == 0 then
  return 0
end
if action == 'purge' then
  forget(moved)
  return #moved
end
local now = int(now_ms())
for _, id in ipairs(moved) do
  local body = redis.call('GET', job_key(id))
  if body then
    local _, prio = header(body)
    local claims = split_meta(redis.call('GET', meta_key(id)))
    redis.call('SET', meta_key(id), join_meta(claims, 0))
    make_pending(id, prio, now)
  end
end
wake()
return #moved
