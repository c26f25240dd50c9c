-- Drives one bench figure. The requests come from the file named by BENCH_REQUESTS, one
-- per line, fields separated by tabs:
--     METHOD <tab> PATH <tab> BODY <tab> Header-Name: value <tab> Header-Name: value ...
-- (BODY may be empty). The requests are built once, then sent in turn, round robin.
-- At the end one line is printed for bench/run.py:
--     BENCHRESULT requests=N seconds=S p50_us=.. p99_us=.. max_us=.. status_errors=N socket_errors=N
-- wrk counts an answer with a status of 400 or more as a status error.

local prepared = {}
local next_index = 1

local function split(line)
  local fields = {}
  for field in (line .. "\t"):gmatch("([^\t]*)\t") do
    fields[#fields + 1] = field
  end
  return fields
end

function init(args)
  local name = os.getenv("BENCH_REQUESTS")
  local file = assert(io.open(name, "r"), "BENCH_REQUESTS must name a readable file")
  for line in file:lines() do
    if line ~= "" then
      local fields = split(line)
      local headers = {}
      for i = 4, #fields do
        local key, value = fields[i]:match("^([^:]+):%s*(.*)$")
        if key then headers[key] = value end
      end
      local body = fields[3]
      if body == "" then body = nil end
      prepared[#prepared + 1] = wrk.format(fields[1], fields[2], headers, body)
    end
  end
  file:close()
  assert(#prepared > 0, "no requests in " .. name)
end

function request()
  local chosen = prepared[next_index]
  next_index = next_index % #prepared + 1
  return chosen
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    "BENCHRESULT requests=%d seconds=%.6f p50_us=%d p99_us=%d max_us=%d status_errors=%d socket_errors=%d\n",
    summary.requests, summary.duration / 1e6,
    latency:percentile(50), latency:percentile(99), latency.max,
    errors.status, errors.connect + errors.read + errors.write + errors.timeout))
end
