-- wrk: receive up to 10 (GET /v1/queues/bench/messages?limit=10), then ack each message it got
-- on its own request (PUT /v1/queues/bench/messages/<id>/ack with its receipt): a consumer that
-- acks one by one, whose acks the sidecar may group (issue 17's batched acks; batch/acks.rs).
-- Counts the acks answered 204 ("ACKS <n>", across threads) and the others ("FAILED <n>").
local threads = {}
acks = 0
failed = 0
local pending = {}
local ack_headers = { ["Content-Type"] = "application/json" }

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local m = table.remove(pending)
  if m then
    return wrk.format("PUT", "/v1/queues/bench/messages/" .. m[1] .. "/ack", ack_headers,
      '{"receipt": "' .. m[2] .. '"}')
  end
  return wrk.format("GET", "/v1/queues/bench/messages?limit=10")
end

function response(status, headers, body)
  if status == 204 then
    acks = acks + 1
  elseif status == 200 then
    for id, receipt in body:gmatch('"id":%s*"(%w+)".-"receipt":%s*"(%w+)"') do
      table.insert(pending, { id, receipt })
    end
  else
    failed = failed + 1
  end
end

function done(summary, latency, requests)
  local total, lost = 0, 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("acks")
    lost = lost + thread:get("failed")
  end
  io.write(string.format("ACKS %d\nFAILED %d\n", total, lost))
end
