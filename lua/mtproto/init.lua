--- mtproto: a Telegram MTProto 2.0 client for Lua 5.4.
--
--   local mtproto = require("mtproto")
--   local client = mtproto.client{ api_id = ..., api_hash = ..., session = "my.session" }
--   print(mtproto.pretty(client.help.getNearestDc{}))
-- @module mtproto
local core = require("mtproto.core")
local M = { VERSION = core.VERSION, core = core }

-- Submodules load on first use so that `require("mtproto")` stays cheap.
-- mtproto.client{...} and mtproto.pretty(obj) are callable module tables;
-- mtproto.Error is the error class (mtproto.Error{code=, message=} builds one).
local lazy = {
  tl = function() return require("mtproto.tl") end,
  client = function() return require("mtproto.client") end,
  pretty = function() return require("mtproto.pretty") end,
  errors = function() return require("mtproto.errors") end,
  Error = function() return require("mtproto.errors").Error end,
  session_file = function() return require("mtproto.session_file") end,
  testdc = function() return require("mtproto.testdc") end,
  srp = function() return require("mtproto.srp") end,
}
setmetatable(M, {
  __index = function(t, k)
    local load = lazy[k]
    if not load then return nil end
    local v = load()
    rawset(t, k, v)
    return v
  end,
})

return M
