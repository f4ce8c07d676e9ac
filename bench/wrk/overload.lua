-- GET a user by a random id, as by_id.lua does, and tally every response per thread: the
-- count of each status code and how many 503s carried a Retry-After header. done() adds
-- both to the BENCH_RESULT line ("statuses": {"200": n, "503": m}, "retry_after_503": m):
-- under overload the service may refuse work, but only with a 503 that says when to retry.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init = common.setup, common.init

local headers = common.headers(false)

function request()
  return wrk.format("GET", common.users .. "/" .. common.random_id(), headers)
end

-- Thread state: read by done() through thread:get.
statuses = {}
retry_after_503 = 0

local function has_retry_after(response_headers)
  for name, _ in pairs(response_headers) do
    -- Header names arrive as the server wrote them.
    if string.lower(name) == "retry-after" then
      return true
    end
  end
  return false
end

function response(status, response_headers, _)
  local code = tostring(status)
  statuses[code] = (statuses[code] or 0) + 1
  if status == 503 and has_retry_after(response_headers) then
    retry_after_503 = retry_after_503 + 1
  end
end

-- Main state: sum the threads' tallies.
function done(summary, latency, _)
  local totals = {}
  local with_retry_after = 0
  for _, thread in ipairs(common.threads) do
    for code, count in pairs(thread:get("statuses")) do
      totals[code] = (totals[code] or 0) + count
    end
    with_retry_after = with_retry_after + thread:get("retry_after_503")
  end
  local members = {}
  for code, count in pairs(totals) do
    members[#members + 1] = string.format('"%s": %d', code, count)
  end
  table.sort(members)
  io.write(string.format(
    'BENCH_RESULT {%s, "statuses": {%s}, "retry_after_503": %d}\n',
    common.result_members(summary, latency), table.concat(members, ", "), with_retry_after))
end
