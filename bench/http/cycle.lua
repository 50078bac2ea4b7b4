-- wrk: GET one message, then PUT its ack; count acks (= messages through) across threads.
-- With BENCH_TOKEN set, every request carries it (the auth-on columns).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
local threads = {}
acks = 0
local pending = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local id = table.remove(pending)
  if id then
    return wrk.format("PUT", "/v1/queues/bench/messages/" .. id .. "/ack")
  end
  return wrk.format("GET", "/v1/queues/bench/messages?limit=1")
end

function response(status, headers, body)
  if status == 204 then
    acks = acks + 1
  elseif status == 200 then
    local id = body:match('"id":"(%w+)"')
    if id then
      table.insert(pending, id)
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("acks")
  end
  io.write(string.format("ACKS %d\n", total))
end
