-- wrk: SQS SendMessage, one message per request (AWS JSON 1.0 at POST /), the same body and
-- attribute as post.lua's REST send. With PSQLQUEUE_AUTH=none no signature is needed.
-- Counts the sends answered 200 (a failed send answers 4xx/5xx in SQS's error shape) and prints
-- them as "SENT <n> <per second>", so a broken SendMessage cannot look fast.
local threads = {}
sent = 0
local queue_url = string.format("http://%s:%s/000000000000/bench", wrk.host, wrk.port or "80")

wrk.method = "POST"
wrk.path = "/"
wrk.headers["Content-Type"] = "application/x-amz-json-1.0"
wrk.headers["X-Amz-Target"] = "AmazonSQS.SendMessage"
wrk.body = '{"QueueUrl": "' .. queue_url .. '", "MessageBody": "payload", '
  .. '"MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}}'

function setup(thread)
  table.insert(threads, thread)
end

function response(status, headers, body)
  if status == 200 then
    sent = sent + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("sent")
  end
  local seconds = summary.duration / 1e6
  io.write(string.format("SENT %d %.1f\n", total, seconds > 0 and total / seconds or 0))
end
