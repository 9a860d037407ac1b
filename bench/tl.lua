-- TL codec benchmark: ops/s of encoding auth.resendCode and decoding the
-- auth.sentCode golden answer, and the CPU time to parse the schema.
-- Runs on its own: `lua5.4 bench/tl.lua` with the Makefile's LUA_PATH/LUA_CPATH
-- (make bench runs it through bench/run.lua). Prints `name value` lines.
local core = require("mtproto.core")
local tl = core.tl
local clock = os.clock

local function unhex(h)
  return (h:gsub("%s", ""):gsub("..", function(x) return string.char(tonumber(x, 16)) end))
end

local function median(t)
  table.sort(t)
  return t[(#t + 1) // 2]
end

-- Best-of-runs rate of f over n iterations.
local function rate(n, f, runs)
  local best = 0
  for _ = 1, runs or 5 do
    local t0 = clock()
    f(n)
    local dt = clock() - t0
    if dt > 0 and n / dt > best then best = n / dt end
  end
  return best
end

local req = { _ = "auth.resendCode", phone_number = "15550001111", phone_code_hash = "9d5d6b5e3a1c2f4e80" }
local encode = tl.encode
local enc = rate(1000000, function(n)
  for _ = 1, n do encode(req) end
end)

local answer = unhex("02 25 00 5e 06 00 00 00 a2 bb 00 c0 05 00 00 00 12 39 64 35 64 36 62 35"
  .. " 65 33 61 31 63 32 66 34 65 38 30 00 e3 d3 1c 74 78 00 00 00")
local decode = tl.decode
local dec = rate(500000, function(n)
  for _ = 1, n do decode(answer) end
end)

-- Schema load: a fresh registry parses both embedded texts (and builds its Lua tables).
local times = {}
for _ = 1, 21 do
  local t0 = clock()
  tl.new() -- a new, independent registry
  times[#times + 1] = (clock() - t0) * 1000
end

print(string.format("tl.encode_resendCode %.0f", enc))
print(string.format("tl.decode_sentCode %.0f", dec))
print(string.format("tl.schema_load_ms %.3f", median(times)))
