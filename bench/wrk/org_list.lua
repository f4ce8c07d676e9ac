-- GET the first page of 50 organizations (the service only), as list.lua does for users.
package.path = debug.getinfo(1, "S").source:match("^@(.*/)") .. "?.lua;" .. package.path
local common = require("common")

setup, done = common.setup, common.done

common.fixed_get(common.organizations .. "?limit=50")
