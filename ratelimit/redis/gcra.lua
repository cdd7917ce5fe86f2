-- GCRA (generic cell rate algorithm) for one key.
--
-- Time is the Redis server's clock in whole microseconds, so every instance
-- shares one clock and the arithmetic is exact: Lua numbers are doubles, and
-- every integer below 2^53 (285 years of microseconds) is exact. The Go side
-- keeps burst * interval below 2^52.
--
-- KEYS[1]  the key; its value is the theoretical arrival time (TAT) in µs
-- ARGV[1]  emission interval T = Per/Rate in µs (integer >= 1)
-- ARGV[2]  burst B (integer >= 1)
-- Returns {allowed (1 or 0), remaining, retry_after_us}. A denied event
-- writes nothing.
if redis.replicate_commands then
  redis.replicate_commands() -- Redis < 5: replicate the SET, not the script
end
local t = tonumber(ARGV[1])
local b = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local new_tat = tat + t
-- Allowed while the bucket, counted as time, holds at most B intervals.
local slack = b * t - (new_tat - now)
if slack < 0 then
  return {0, 0, -slack}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor(slack / t), 0}
