-- PATCH the password hash of a random seeded user (no uniqueness can conflict).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(true)
local body = string.format('{"password_hash": "%s"}', common.hash)

function request()
  return wrk.format("PATCH", common.users .. "/" .. common.random_id(), headers, body)
end
