-- wrk: SQS ReceiveMessage with MaxNumberOfMessages 10, then one DeleteMessageBatch of every
-- receipt handle it got (AWS JSON 1.0 at POST /; PSQLQUEUE_AUTH=none, so no signature).
-- Counts only the entries DeleteMessageBatch answers as Successful ("ACKS <n>", messages
-- through, across threads) and the entries it answers as Failed ("FAILED <n>"): a broken cycle
-- (errors, empty receives, failed deletes) counts nothing.
local threads = {}
acks = 0
failed = 0
local pending = {}
local queue_url = string.format("http://%s:%s/000000000000/bench", wrk.host, wrk.port or "80")
-- MessageAttributeNames All: the answer carries the attributes, as REST's receive always does.
local receive_body = '{"QueueUrl": "' .. queue_url .. '", "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]}'
local receive_headers = { ["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.ReceiveMessage" }
local delete_headers = { ["Content-Type"] = "application/x-amz-json-1.0", ["X-Amz-Target"] = "AmazonSQS.DeleteMessageBatch" }

function setup(thread)
  table.insert(threads, thread)
end

function request()
  local handles = table.remove(pending)
  if handles then
    local entries = {}
    for i, handle in ipairs(handles) do
      entries[i] = string.format('{"Id": "%d", "ReceiptHandle": "%s"}', i - 1, handle)
    end
    local body = '{"QueueUrl": "' .. queue_url .. '", "Entries": [' .. table.concat(entries, ", ") .. ']}'
    return wrk.format("POST", "/", delete_headers, body)
  end
  return wrk.format("POST", "/", receive_headers, receive_body)
end

function response(status, headers, body)
  if status ~= 200 then
    return
  end
  -- A DeleteMessageBatch answer: {"Successful": [{"Id": ...}, ...], "Failed": [...]}; its
  -- Successful entries carry nothing but their Id, so the list holds no nested bracket.
  local successful = body:match('"Successful":%s*%[(.-)%]')
  if successful then
    for _ in successful:gmatch('"Id"') do
      acks = acks + 1
    end
    local failures = body:match('"Failed":%s*%[(.-)%]%s*[,}]')
    if failures then
      for _ in failures:gmatch('"Id"') do
        failed = failed + 1
      end
    end
    return
  end
  -- A ReceiveMessage answer: {"Messages": [{..., "ReceiptHandle": "...", ...}, ...]}, or {}.
  local handles = {}
  for handle in body:gmatch('"ReceiptHandle":%s*"([%w_%-=]+)"') do
    handles[#handles + 1] = handle
  end
  if #handles > 0 then
    table.insert(pending, handles)
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
