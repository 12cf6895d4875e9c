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

-- Calls `cmd key args...` with `args` split into bounded chunks, so `unpack` never
-- sees more than 1000 values (Lua's limit is about 8000). `step` keeps pairs together.
local function call_many(cmd, key, args)
  local step = 1000
  for i = 1, #args, step do
    redis.call(cmd, key, unpack(args, i, math.min(i + step - 1, #args)))
  end
end

local function job_key(id)
  return pre .. 'job:' .. id
end

-- A job waits in the pending set of its priority, scored by run_at: it is
-- scheduled while run_at > now and ready from then on. `prios` lists the priority
-- levels that may hold jobs, scored by priority.
local function make_pending(id, prio, run_at)
  redis.call('ZADD', pre .. 'pending:' .. prio, run_at, id)
  redis.call('ZADD', pre .. 'prios', prio, prio)
end

-- Errors are stored as one JSON object per line, oldest first.
local function append_error(jk, line)
  local old = redis.call('HGET', jk, 'errors')
  if old and old ~= '' then
    line = old .. '\n' .. line
  end
  redis.call('HSET', jk, 'errors', line)
end

-- Wakes workers waiting on this queue (the channel shares the queue's hash tag).
local function wake()
  redis.call(publish, pre .. 'wake', '1')
end

-- End of common.lua
