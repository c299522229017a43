-- Pacing for wrk: with WRK_RATE set, the requests of all connections go
-- out on a fixed schedule of WRK_RATE requests per second in all
-- (WRK_THREADS threads, 2 by default), instead of each connection sending
-- its next request as soon as the last answer is in. Each wrk thread hands
-- out send times WRK_THREADS/WRK_RATE seconds apart from its own clock;
-- delay() is asked once before every request, so the connection that asks
-- gets the next free time. A server that falls behind is sent the late
-- requests at once (no sleep), so the offered load stays WRK_RATE whatever
-- the answers' speed. wrk's timers have millisecond resolution: a request
-- leaves at most about 1 ms early or late, which averages out over a
-- second. Latency is measured by wrk from the actual send.
--
-- Used on its own (wrk -s bench/paced.lua) or from another script, which
-- loads it with dofile() and keeps its own request().
local ffi = require("ffi")
pcall(ffi.cdef, [[
typedef struct { long tv_sec; long tv_nsec; } paced_timespec;
int clock_gettime(int clock, paced_timespec *ts);
]])
local ts = ffi.new("paced_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
  ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local rate = tonumber(os.getenv("WRK_RATE") or "")
local gap_ms = rate and 1000 * tonumber(os.getenv("WRK_THREADS") or "2") / rate
local due

if gap_ms then
  function delay()
    local t = now_ms()
    due = (due or t) + gap_ms
    local wait = due - t
    if wait < 1 then return 0 end
    return math.floor(wait)
  end
end
