-- POST a new organization (the service only). The slug is unique per request (run nonce +
-- thread + counter), as create.lua's usernames are, so a healthy server answers 201 every time.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, init, done = common.setup, common.init, common.done

local headers = common.headers(true)

function request()
  local slug = common.unique_name()
  local body = string.format('{"slug": "%s", "name": "Organization %s"}', slug, slug)
  return wrk.format("POST", common.organizations, headers, body)
end
