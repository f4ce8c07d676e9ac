-- GET the first page of 50 users: the same request every time, so wrk builds it once.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, done = common.setup, common.done

common.fixed_get(common.users .. "?limit=50")
