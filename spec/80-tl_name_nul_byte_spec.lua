-- Regression: the registry compared names with strncmp and then read the stored name at the
-- Lua length, so a name holding a NUL byte matched the real name before its NUL: a short one
-- was taken for another combinator, a long one read far past the name pool (a segfault).
-- A name must match in length and in every byte.
--
-- The names below are built to land in the same hash slot as a real name (the registry's
-- FNV-1a), so that the comparison itself is what decides.
local tl = require("mtproto.tl")

local M32, P = 0xffffffff, 16777619
local function step(h, b) return ((h ~ b) * P) & M32 end
local function fnv(s, h)
  h = h or 2166136261
  for i = 1, #s do h = step(h, s:byte(i)) end
  return h
end
local function powmod(b, e)
  local r = 1
  while e > 0 do
    if e & 1 == 1 then r = (r * b) & M32 end
    b, e = (b * b) & M32, e >> 1
  end
  return r
end
local PINV = P
for _ = 1, 5 do PINV = (PINV * (2 - P * PINV)) & M32 end

-- Four bytes taking the hash state h0 to `target` (meet in the middle), or nil (about 1 in 3).
local function solve(h0, target)
  local fwd = {}
  for b1 = 0, 255 do
    local h1 = step(h0, b1)
    for b2 = 0, 255 do fwd[step(h1, b2)] = b1 * 256 + b2 end
  end
  local x = (target * PINV) & M32
  for b4 = 0, 255 do
    local y = ((x ~ b4) * PINV) & M32
    for b3 = 0, 255 do
      local f = fwd[y ~ b3]
      if f then return string.char(f >> 8, f & 255, b3, b4) end
    end
  end
end

-- name .. "\0" .. `pad` bytes .. 4 bytes, hashing like `name`.
local function twin(name, pad)
  for fill = 1, 255 do
    local pre = name .. "\0" .. string.char(fill):rep(pad)
    local x = solve(fnv(pre), fnv(name))
    if x then return pre .. x end
  end
  error("no twin found")
end

describe("a name with a NUL byte", function()
  it("is unknown, never the combinator named by its part before the NUL", function()
    -- A fresh registry where the bytes after "probeAlpha\0" in the name pool are the type name
    -- ProbeBetaLong and its terminator: a 24-byte twin ends exactly on that terminator.
    local r = tl.new()
    assert.is_true(r.load_string("probeAlpha#1a2b3c4d = ProbeBetaLong;\n") >= 1)
    assert.equal("probeAlpha", r.info("probeAlpha").name)
    local p = twin("probeAlpha", #"ProbeBetaLong" - 4)
    assert.equal(fnv("probeAlpha"), fnv(p))
    assert.is_nil(r.info(p))
    assert.is_nil(r.info("probeAlpha\0"))
    assert.is_nil(tl.info("ping\0"))
    assert.has_error(function() r.decode_result(p, "") end)
    assert.has_error(function() r.encode{ _ = p } end)
  end)

  it("of 64 MiB is unknown to tl.info and tl.decode_result (it read past the names)", function()
    -- In a child process: before the fix this died of SIGSEGV.
    local script = os.tmpname()
    local f = assert(io.open(script, "w"))
    f:write([[
      local tl = require("mtproto.tl")
      local name, pad, x = ...
      x = x:gsub("%x%x", function(h) return string.char(tonumber(h, 16)) end)
      local p = name .. "\0" .. string.rep("\0", tonumber(pad)) .. x
      local ok, err = pcall(tl.decode_result, p, "\0\0\0\0")
      io.write(tostring(tl.info(p)), " ", tostring(ok), " ", #tostring(err) < 200 and "short" or "long", "\n")
    ]])
    f:close()
    local m = 64 * 1024 * 1024
    local x
    while not x do -- a zero byte multiplies the hash by P
      m = m + 1
      x = solve((fnv("ping\0") * powmod(P, m)) & M32, fnv("ping"))
    end
    local cmd = string.format("%s %s ping %d %s 2>&1", require("helpers").LUA, script, m, require("helpers").hex(x))
    local pipe = assert(io.popen(cmd))
    local out = pipe:read("a")
    local ok, how, code = pipe:close()
    os.remove(script)
    assert.same({ true, "exit", 0 }, { ok, how, code }, out)
    assert.equal("nil false short\n", out)
  end)
end)
