-- wrk script for benchmarks/forward.py: one OCPI call, repeated.
--
--   wrk ... URL -- METHOD BODY_FILE|- 'Header: value' ...
--
-- Every request gets its own X-Request-ID (wrk-<thread>-<n>); the other headers and the body
-- are the same for every request (but see X-Bench-Unique-Id below). Every response is checked: HTTP 200 and an OCPI envelope
-- with "status_code":1000, else it counts as bad (the first bad answer is kept for the report).
-- done() prints one line "BENCH_JSON {...}" with the counts and the latency percentiles (µs).

local threads = {}
local next_id = 0

function setup(thread)
   next_id = next_id + 1
   thread:set("id", next_id)
   table.insert(threads, thread)
end

function init(args)
   method = args[1]
   if args[2] ~= "-" then
      local file = assert(io.open(args[2], "rb"))
      body = file:read("*a")
      file:close()
   end
   headers = {}
   for i = 3, #args do
      local name, value = string.match(args[i], "^([^:]+):%s*(.*)$")
      headers[name] = value
   end
   -- "X-Bench-Unique-Id: LOC1" (not sent): a new object id in every request, in place of the
   -- last path segment LOC1 and of "id":"LOC1" in the body.
   unique = headers["X-Bench-Unique-Id"]
   headers["X-Bench-Unique-Id"] = nil
   if unique then
      local marker = '"id":"' .. unique .. '"'
      local from, to = string.find(body, marker, 1, true)
      body_head = string.sub(body, 1, from - 1) .. '"id":"'
      body_tail = '"' .. string.sub(body, to + 1)
      path_head = string.sub(wrk.path, 1, #wrk.path - #unique)
   end
   counter = 0
   bad = 0
   first_bad = ""
end

function request()
   counter = counter + 1
   headers["X-Request-ID"] = "wrk-" .. id .. "-" .. counter
   if unique then
      local object_id = "B" .. id .. "-" .. counter
      return wrk.format(method, path_head .. object_id, headers, body_head .. object_id .. body_tail)
   end
   return wrk.format(method, nil, headers, body)
end

function response(status, hdrs, answer)
   if status ~= 200 or not string.find(answer, '"status_code":1000', 1, true) then
      bad = bad + 1
      if first_bad == "" then
         first_bad = status .. " " .. string.sub(answer, 1, 300)
      end
   end
end

local function quote(s)
   s = string.gsub(s, '[%c"\\]', function(c) return string.format("\\u%04x", string.byte(c)) end)
   return '"' .. s .. '"'
end

function done(summary, latency, requests)
   local total_bad, sample = 0, ""
   for _, thread in ipairs(threads) do
      total_bad = total_bad + thread:get("bad")
      if sample == "" then sample = thread:get("first_bad") end
   end
   local e = summary.errors
   io.write(string.format(
      'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
      '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"bad":%d,"first_bad":%s,' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"mean":%.1f,"max":%d}}\n',
      summary.requests, summary.duration, summary.bytes,
      e.connect, e.read, e.write, e.status, e.timeout,
      total_bad, quote(sample),
      latency:percentile(50), latency:percentile(90), latency:percentile(99),
      latency.mean, latency.max))
end
