-- wrk: REST v1 receive of up to 10 (GET /v1/queues/bench/messages?limit=10), then one batch ack
-- of every message it got, each with its receipt (PUT /v1/queues/bench/messages/ack): the REST
-- side of the SQS ReceiveMessage(10) + DeleteMessageBatch comparison (sqs_cycle.lua).
-- Counts only the messages the batch ack answers as acked ("ACKS <n>", across threads) and the
-- ones it answers as failed ("FAILED <n>"): a broken cycle counts nothing.
-- With BENCH_TOKEN set, every request carries it.
local token = os.getenv("BENCH_TOKEN")
local receive_headers = {}
local ack_headers = { ["Content-Type"] = "application/json" }
if token and token ~= "" then
  receive_headers["Authorization"] = "Bearer " .. token
  ack_headers["Authorization"] = "Bearer " .. token
end
local threads = {}
acks = 0
failed = 0
local pending = {}

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local batch = table.remove(pending)
  if batch then
    local entries = {}
    for i, m in ipairs(batch) do
      entries[i] = string.format('{"id": "%s", "receipt": "%s"}', m[1], m[2])
    end
    local body = '{"messages": [' .. table.concat(entries, ", ") .. ']}'
    return wrk.format("PUT", "/v1/queues/bench/messages/ack", ack_headers, body)
  end
  return wrk.format("GET", "/v1/queues/bench/messages?limit=10", receive_headers)
end

function response(status, headers, body)
  if status ~= 200 then
    return
  end
  -- A batch ack's answer: {"acked": ["<id>", ...], "failed": [{"id": ..., ...}, ...]}.
  local acked = body:match('"acked":%s*%[(.-)%]')
  if acked then
    for _ in acked:gmatch('"[^"]*"') do
      acks = acks + 1
    end
    local failures = body:match('"failed":%s*%[(.-)%]%s*[,}]')
    if failures then
      for _ in failures:gmatch('"id"') do
        failed = failed + 1
      end
    end
    return
  end
  -- A receive's answer: {"data": [{"id": "...", ..., "receipt": "...", ...}, ...], "limit": 10}.
  local batch = {}
  for id, receipt in body:gmatch('"id":%s*"(%w+)".-"receipt":%s*"(%w+)"') do
    batch[#batch + 1] = { id, receipt }
  end
  if #batch > 0 then
    table.insert(pending, batch)
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
