--- JSON through lua-cjson, with whole numbers decoded as Lua integers.
-- Debian's lua-cjson 2.1.0 decodes every number as a float under Lua 5.4, so an id 1 would
-- print as 1.0 when put back into a path; core.integralize turns such floats into integers.
local cjson = require("cjson.safe").new()
local core = require "iblai.core"

cjson.decode_max_depth(200)
cjson.encode_max_depth(200)

local M = { null = cjson.null }

function M.decode(s)
  local v, err = cjson.decode(s)
  if v == nil and err then return nil, err end
  return core.integralize(v)
end

function M.encode(v)
  return cjson.encode(v)
end

return M
