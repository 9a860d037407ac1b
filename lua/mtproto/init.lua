-- mtproto: a Telegram MTProto 2.0 client for Lua 5.4.
local M = { VERSION = "0.1.0" }

local core = require("mtproto.core")
M.core = core

-- Submodules load on first use so that `require("mtproto")` stays cheap.
local lazy = { tl = "mtproto.tl" }
setmetatable(M, {
  __index = function(t, k)
    local name = lazy[k]
    if not name then return nil end
    local v = require(name)
    rawset(t, k, v)
    return v
  end,
})

return M
