-- GET the first page of 50 users: the same request every time, so wrk builds it once.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, done = common.setup, common.done

wrk.method = "GET"
wrk.path = common.users .. "?limit=50"
for name, value in pairs(common.headers(false)) do
  wrk.headers[name] = value
end
