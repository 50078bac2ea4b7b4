-- wrk: POST one message per request.
-- With BENCH_TOKEN set, every request carries it (the auth-on columns).
local token = os.getenv("BENCH_TOKEN")
if token and token ~= "" then
  wrk.headers["Authorization"] = "Bearer " .. token
end
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"body": "payload", "attributes": {"k": "v"}}'
