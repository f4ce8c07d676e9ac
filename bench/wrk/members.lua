-- GET the members of a random seeded organization (ten each; the service only).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(false)

function request()
  local path = common.organizations .. "/" .. common.random_organization_id() .. "/members"
  return wrk.format("GET", path, headers)
end
