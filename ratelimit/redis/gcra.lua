-- GCRA (generic cell rate algorithm) for one key, counting an event with an
-- ID once.
--
-- Time is the Redis server's clock in whole microseconds, so every instance
-- shares one clock and the arithmetic is exact: Lua numbers are doubles, and
-- every integer below 2^53 (285 years of microseconds) is exact, also as a
-- sorted set's score. The Go side keeps burst * interval and the window
-- below 2^52.
--
-- The key is a sorted set: member "t" scores the theoretical arrival time
-- (TAT) in µs; member "i:" .. id scores the instant (µs) until which the
-- event id counts as counted. The key expires when both have passed.
--
-- KEYS[1]  the key
-- ARGV[1]  emission interval T = Per/Rate in µs (integer >= 1)
-- ARGV[2]  burst B (integer >= 1)
-- ARGV[3]  the event's ID, or "" (counted every time); absent: ""
-- ARGV[4]  "1" to count the event even over the limit (force), else "0";
--          absent: "0"
-- ARGV[5]  window W in µs: how long an ID is remembered (with an ID)
-- ARGV[6]  how many IDs the key remembers at most (with an ID)
-- Returns {allowed (1 or 0), remaining, retry_after_us}. A denied event,
-- or an ID already counted, writes nothing.
if redis.replicate_commands then
  redis.replicate_commands() -- Redis < 5: replicate the writes, not the script
end
local key = KEYS[1]
local t = tonumber(ARGV[1])
local b = tonumber(ARGV[2])
local id = ARGV[3] or ''
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])

local tat = redis.pcall('ZSCORE', key, 't')
if type(tat) == 'table' and tat.err then
  -- Not a sorted set (earlier versions kept the TAT in a string): start
  -- the key afresh, with its full burst.
  redis.call('DEL', key)
  tat = false
end
tat = tonumber(tat) or now
if tat < now then
  tat = now
end

local member = false
if id ~= '' then
  member = 'i:' .. id
  local until_us = tonumber(redis.call('ZSCORE', key, member))
  if until_us and until_us > now then
    -- Counted already: allowed, and not counted again.
    return {1, math.floor(math.max(b * t - (tat - now), 0) / t), 0}
  end
end

local new_tat = tat + t
-- Allowed while the bucket, counted as time, holds at most B intervals.
local slack = b * t - (new_tat - now)
if slack < 0 and ARGV[4] ~= '1' then
  return {0, 0, -slack}
end

local live = new_tat - now -- how long the key must live, in µs
if member then
  local w = tonumber(ARGV[5])
  -- Forget the IDs (and a TAT) that have passed, then remember this one.
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  redis.call('ZADD', key, new_tat, 't', now + w, member)
  local excess = redis.call('ZCARD', key) - 1 - tonumber(ARGV[6])
  if excess > 0 then
    -- Over the bound (forced events only): forget the oldest IDs, the
    -- lowest scores but for "t".
    for _, m in ipairs(redis.call('ZRANGE', key, 0, excess)) do
      if m ~= 't' and excess > 0 then
        redis.call('ZREM', key, m)
        excess = excess - 1
      end
    end
  end
  if w > live then
    live = w
  end
else
  redis.call('ZADD', key, new_tat, 't')
  -- Keep the IDs remembered (if any) for as long as they are.
  local pttl = redis.call('PTTL', key) * 1000
  if pttl > live then
    live = pttl
  end
end
redis.call('PEXPIRE', key, math.ceil(live / 1000))
return {1, math.floor(math.max(slack, 0) / t), 0}
