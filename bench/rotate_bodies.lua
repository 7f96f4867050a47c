-- wrk script of bench/bench_server.py: POST the bench bodies in turn, report one JSON line.
--
--   wrk -t1 -c32 -d3s -s bench/rotate_bodies.lua http://127.0.0.1:PORT -- [--unique] \
--       PATH FILE NAME [PATH FILE NAME ...]
--
-- Each PATH (with its query) is sent with the body read from FILE, NAME in an X-Bench-Body
-- header. The requests are formatted once, in init, and handed out in turn; with --unique
-- each request is formatted anew with a counter at the start of the body's first text part,
-- so no two bodies are the same. done() prints "WRKJSON {...}" for the bench to read.

local paths, bodies, names, reqs = {}, {}, {}, {}
local unique = false
local n, count = 0, 0

local function headers(name)
  return {["Content-Type"] = "application/json", ["X-Bench-Body"] = name}
end

function init(args)
  local first = 1
  if args[1] == "--unique" then
    unique, first = true, 2
  end
  for i = first, #args, 3 do
    local f = assert(io.open(args[i + 1], "rb"))
    local body = f:read("*a")
    f:close()
    paths[#paths + 1], bodies[#bodies + 1], names[#names + 1] = args[i], body, args[i + 2]
    reqs[#reqs + 1] = wrk.format("POST", args[i], headers(args[i + 2]), body)
  end
  assert(#reqs > 0, "no PATH FILE NAME triples after --")
end

function request()
  n = n % #reqs + 1
  if not unique then
    return reqs[n]
  end
  count = count + 1
  local body = (string.gsub(bodies[n], '"text": "', '"text": "' .. count .. " ", 1))
  return wrk.format("POST", paths[n], headers(names[n]), body)
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
