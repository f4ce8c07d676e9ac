-- POST a new user with an imported `password_hash`. Email and username are unique per
-- request (run nonce + thread + counter), so a healthy server answers 201 every time.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(true)

function request()
  local name = common.unique_name()
  local body = string.format(
    '{"email": "%s@example.com", "username": "%s", "password_hash": "%s"}',
    name, name, common.hash)
  return wrk.format("POST", common.users, headers, body)
end
