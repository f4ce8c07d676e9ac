-- GET an organization by a random id among the seeded ones (the service only).
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(false)

function request()
  return wrk.format("GET", common.organizations .. "/" .. common.random_organization_id(), headers)
end
