-- GET a user by the username of a random seeded user (user1..userN).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(false)

function request()
  return wrk.format("GET", common.users .. "/by_username/user" .. common.random_id(), headers)
end
