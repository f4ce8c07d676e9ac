-- GET a user by a random id among the seeded ones.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(false)

function request()
  return wrk.format("GET", common.users .. "/" .. common.random_id(), headers)
end
