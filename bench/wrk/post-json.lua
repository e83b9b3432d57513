-- wrk script of the Nimbus benchmark: POSTs the JSON body {} with content-type application/json
-- and, when BENCH_AUTHORIZATION is set, that authorization header. At the end prints one line
-- "BENCH_JSON {...}" with the counts and latency percentiles in microseconds (parsed by bench/wrk.ts).
wrk.method = "POST"
wrk.body = "{}"
wrk.headers["content-type"] = "application/json"
local auth = os.getenv("BENCH_AUTHORIZATION")
if auth ~= nil and auth ~= "" then
  wrk.headers["authorization"] = auth
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"duration_us":%d,"requests":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"min":%d,"mean":%.2f,"stdev":%.2f,"max":%d,"p50":%d,"p90":%d,"p99":%d,"p999":%d}}\n',
    summary.duration, summary.requests, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9)))
end
