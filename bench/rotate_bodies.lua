-- wrk script of bench/bench_server.py: POST the bench bodies in turn, report one JSON line.
--
--   wrk -t1 -c32 -d3s -s bench/rotate_bodies.lua http://127.0.0.1:PORT -- PATH FILE [PATH FILE ...]
--
-- Each PATH (with its query) is sent with the body read from FILE; the requests are formatted
-- once, in init, and handed out in turn. done() prints "WRKJSON {...}" for the bench to read.

local reqs = {}
local n = 0

function init(args)
  for i = 1, #args, 2 do
    local f = assert(io.open(args[i + 1], "rb"))
    local body = f:read("*a")
    f:close()
    local headers = {["Content-Type"] = "application/json"}
    reqs[#reqs + 1] = wrk.format("POST", args[i], headers, body)
  end
  assert(#reqs > 0, "no PATH FILE pairs after --")
end

function request()
  n = n % #reqs + 1
  return reqs[n]
end

local fields = {"connect", "read", "write", "status", "timeout"}

function done(summary, latency, requests)
  local out = {
    string.format('"requests": %d', summary.requests),
    string.format('"us": %d', summary.duration),
    string.format('"bytes": %d', summary.bytes),
    string.format('"p50": %d', latency:percentile(50)),
    string.format('"p99": %d', latency:percentile(99)),
  }
  for _, name in ipairs(fields) do
    out[#out + 1] = string.format('"%s": %d', name, summary.errors[name])
  end
  io.write("WRKJSON {" .. table.concat(out, ", ") .. "}\n")
end
