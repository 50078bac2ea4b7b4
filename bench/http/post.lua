-- wrk: POST one message per request.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"body": "payload", "attributes": {"k": "v"}}'
