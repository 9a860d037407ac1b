-- What the network benches share (bench/net.lua, bench/many.lua):
--   local common = dofile((arg[0]:match("^(.*)/") or ".") .. "/common.lua")
local json = require("dkjson")

local M = {}

--- The arguments: arg[1] is JSON, or @file holding it (the test DC's start-up JSON and more).
function M.read_args()
  local a = arg[1] or "{}"
  if a:sub(1, 1) == "@" then
    local f = assert(io.open(a:sub(2)))
    a = f:read("a")
    f:close()
  end
  return assert(json.decode(a))
end

--- A field of /proc/self/status in KiB (VmRSS, VmHWM); 0 without /proc.
function M.status_kb(field)
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("a")
  f:close()
  return tonumber(s:match(field .. ":%s*(%d+)")) or 0
end

return M
