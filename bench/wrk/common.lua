-- Shared by the scenario scripts of bench/run.py: where the users live, the API key,
-- per-thread numbering and randomness, and a done() that prints the run's figures as one
-- JSON line ("BENCH_RESULT {...}") for the harness to parse.
--
-- Settings come from the environment, set by bench/run.py for each wrk run:
--   BENCH_USERS_PATH   /api/v1/users (service) or /users (baseline)
--   BENCH_API_KEY      bearer key for the service; empty for the baseline
--   BENCH_SEEDED_USERS ids 1..N and usernames user1..userN exist
--   BENCH_NONCE        unique per wrk run, so that created users never collide
--   BENCH_SEEDED_ORGANIZATIONS  organization ids 1..N exist (the service only)
local M = {}

M.users = os.getenv("BENCH_USERS_PATH") or "/api/v1/users"
M.seeded = tonumber(os.getenv("BENCH_SEEDED_USERS") or "10000")
M.organizations = "/api/v1/organizations"
M.seeded_organizations = tonumber(os.getenv("BENCH_SEEDED_ORGANIZATIONS") or "1000")
M.nonce = os.getenv("BENCH_NONCE") or tostring(os.time())
-- A syntactically valid bcrypt hash: create and PATCH import it as `password_hash`.
M.hash = "$2b$12$GhvMmNVjRW29ulnudl.LbuAnUtN/LRfe1JsBm1Xu6LE3059z5Tr8m"

local key = os.getenv("BENCH_API_KEY") or ""

-- Fresh header tables for each request builder (wrk.format adds Host and Content-Length).
function M.headers(json)
  local headers = {}
  if key ~= "" then
    headers["Authorization"] = "Bearer " .. key
  end
  if json then
    headers["Content-Type"] = "application/json"
  end
  return headers
end

-- Main state: number the threads 1..N (visible as the global `thread_id` in each thread) and
-- keep them in M.threads, so that done() can read what each thread tallied (thread:get).
local next_thread_id = 1
M.threads = {}
function M.setup(thread)
  thread:set("thread_id", next_thread_id)
  M.threads[next_thread_id] = thread
  next_thread_id = next_thread_id + 1
end

-- Thread state: independent random sequences per thread and per run.
function M.init()
  math.randomseed(os.time() * 1000 + (thread_id or 0) * 7919 + os.clock() * 1e6)
end

function M.random_id()
  return math.random(1, M.seeded)
end

function M.random_organization_id()
  return math.random(1, M.seeded_organizations)
end

-- Thread state: a name no other request of any run uses (run nonce + thread + counter), in
-- lower case letters and digits, so that it is a valid username, email local part and slug.
local created = 0
function M.unique_name()
  created = created + 1
  return string.format("b%st%dn%d", M.nonce, thread_id, created)
end

-- The same GET every time, so wrk builds it once: for a script without request().
function M.fixed_get(path)
  wrk.method = "GET"
  wrk.path = path
  for name, value in pairs(M.headers(false)) do
    wrk.headers[name] = value
  end
end

-- Main state, once at the end: the run's figures as the members of a JSON object (without
-- braces). Latencies are in microseconds. errors.status counts the responses with a status
-- >= 400; the others are socket errors and timeouts.
function M.result_members(summary, latency)
  local errors = summary.errors
  return string.format(
    '"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, '
      .. '"p90_us": %d, "p99_us": %d, "max_us": %d, "mean_us": %d, "errors": {"connect": %d, '
      .. '"read": %d, "write": %d, "status": %d, "timeout": %d}',
    summary.requests, summary.duration, summary.bytes,
    math.floor(latency:percentile(50)), math.floor(latency:percentile(90)),
    math.floor(latency:percentile(99)), latency.max, math.floor(latency.mean),
    errors.connect, errors.read, errors.write, errors.status, errors.timeout)
end

-- Main state, once at the end: the line the harness parses.
function M.done(summary, latency, _)
  io.write("BENCH_RESULT {" .. M.result_members(summary, latency) .. "}\n")
end

return M
