-- Helpers shared by the per-queue scripts; the driver prepends this file to each of them.
--
-- Every per-queue script is called with KEYS[1] = "<tag>:running" (it routes the call to
-- the queue's slot in a cluster), ARGV[1] = the queue's key prefix "<tag>:" where
-- <tag> is "{<prefix>:<queue>}", and ARGV[2] = the publish command ("PUBLISH" on a
-- single node, "SPUBLISH" on a cluster). Every key a script touches starts with
-- ARGV[1], so all of them hash to the same slot.
--
-- Times are Redis server milliseconds (TIME), so leases and due times do not depend on
-- the clocks of the machines that run workers. Numbers written back to Redis go through
-- int(), which prints a double as an integer without exponent.

local pre = ARGV[1]
local publish = ARGV[2]

local function int(n)
  return string.format('%d', n)
end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- `cmd key args[i..j]`, or `cmd args[i..j]` without key (MGET, MSET, DEL of several keys).
local function call_slice(cmd, key, args, i, j)
  if key then
    return redis.call(cmd, key, unpack(args, i, j))
  end
  return redis.call(cmd, unpack(args, i, j))
end

-- Calls `cmd [key] args...` with `args` split into bounded chunks, so `unpack` never
-- sees more than 1000 values (Lua's limit is about 8000). `step` keeps pairs together.
local function call_many(cmd, key, args)
  for i = 1, #args, 1000 do
    call_slice(cmd, key, args, i, math.min(i + 999, #args))
  end
end

-- The replies of `cmd [key] args...` for every value of `args`, chunked like
-- call_many (MGET, ZMSCORE). A missing value is false.
local function read_many(cmd, key, args)
  local out = {}
  for i = 1, #args, 1000 do
    local part = call_slice(cmd, key, args, i, math.min(i + 999, #args))
    for k = 1, #part do
      out[#out + 1] = part[k]
    end
  end
  return out
end

-- A job is three string keys. `job:<id>`, its body: five MessagePack values (task,
-- priority, max_attempts, run_at, created) and the payload (bin), written by the
-- driver and never changed. `meta:<id>`, "claims:attempt", from its first claim on.
-- `errors:<id>`, its failed attempts. Its state is the sorted set that holds it
-- (pending, running, dead). Plain keys, so that every step of a job's life is a few
-- variadic commands per batch (MGET, MSET, DEL), not commands per job.
local function job_key(id)
  return pre .. 'job:' .. id
end

local function meta_key(id)
  return pre .. 'meta:' .. id
end

local function errors_key(id)
  return pre .. 'errors:' .. id
end

-- `key_of` applied to every id.
local function keys_of(key_of, ids)
  local keys = {}
  for i, id in ipairs(ids) do
    keys[i] = key_of(id)
  end
  return keys
end

-- task, priority, max_attempts, run_at, created of a body, without its payload.
-- A body that is not one (written to the key by something else) reads as task '',
-- priority 0, one attempt, due at 0: the job can still be rescued, retried and buried,
-- and a worker that claims it buries it as undecodable.
local function header(body)
  local ok, _, task, prio, max, run_at, created = pcall(cmsgpack.unpack_limit, body or '', 5)
  if not ok or type(task) ~= 'string' or type(prio) ~= 'number' or type(max) ~= 'number'
      or type(run_at) ~= 'number' or type(created) ~= 'number' then
    return '', 0, 1, 0, 0
  end
  return task, prio, max, run_at, created
end

-- The claim counter (the fencing token) and the attempt of a job's meta value.
local function split_meta(value)
  if not value then
    return 0, 0
  end
  -- A value this driver did not write counts as never claimed.
  local claims, attempt = string.match(value, '^(%d+):(%d+)$')
  return tonumber(claims) or 0, tonumber(attempt) or 0
end

local function join_meta(claims, attempt)
  return int(claims) .. ':' .. int(attempt)
end

-- A job waits in the pending set of its priority, scored by run_at: it is
-- scheduled while run_at > now and ready from then on. `prios` lists the priority
-- levels that may hold jobs, scored by priority.
local function make_pending(id, prio, run_at)
  redis.call('ZADD', pre .. 'pending:' .. prio, run_at, id)
  redis.call('ZADD', pre .. 'prios', prio, prio)
end

-- Errors are stored as one JSON object per line, oldest first.
local function append_error(id, line)
  local key = errors_key(id)
  local old = redis.call('GET', key)
  if old and old ~= '' then
    line = old .. '\n' .. line
  end
  redis.call('SET', key, line)
end

-- Deletes jobs entirely: body, meta and errors.
local function forget(ids)
  local keys = {}
  for _, id in ipairs(ids) do
    keys[#keys + 1] = job_key(id)
    keys[#keys + 1] = meta_key(id)
    keys[#keys + 1] = errors_key(id)
  end
  call_many('DEL', nil, keys)
end

-- Wakes workers waiting on this queue (the channel shares the queue's hash tag). The
-- message is how many ms until the earliest of the jobs is due, at `at` (ms): 0 when
-- due now or without `at`. A delay, not a time, so that waiters need not share the
-- server's clock.
local function wake(at)
  local delay = 0
  if at then
    delay = math.max(0, at - now_ms())
  end
  redis.call(publish, pre .. 'wake', int(delay))
end

-- End of common.lua
