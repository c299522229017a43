-- wrk script for bench/webhooks.sh: one pre-signed GitHub push body (the
-- signature covers the body only), sent with a delivery id unique per
-- request, so every request is a new delivery to store.
-- With WRK_RATE set, bench/paced.lua paces the requests.
if os.getenv("WRK_RATE") then dofile((os.getenv("WH_BENCH_DIR") or "bench") .. "/paced.lua") end
local f = assert(io.open(os.getenv("WH_BODY"), "rb"))
local body = f:read("*a")
f:close()
local sig = os.getenv("WH_SIG")
local run = os.getenv("WH_RUN") or "r"
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 0
function request()
  n = n + 1
  return wrk.format("POST", "/webhooks/github", {
    ["Content-Type"] = "application/json",
    ["X-GitHub-Event"] = "push",
    ["X-Hub-Signature-256"] = sig,
    ["X-GitHub-Delivery"] = run .. "-" .. tid .. "-" .. n,
  }, body)
end
