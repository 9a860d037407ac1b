-- tl.encode and tl.decode reserve Lua stack as they go deeper, not the deepest nesting's
-- worth up front: that grew the stack of every coroutine that encoded or decoded anything
-- by about 6 KiB (until the collector shrank it), 6 MiB for a thousand clients' coroutines.
local tl = require("mtproto.tl")

-- jsonArray nested n deep: { _ = "jsonArray", value = { <n - 1 deep> } }
local function nested(n)
  local v = { _ = "jsonNull" }
  for _ = 1, n do v = { _ = "jsonArray", value = { v } } end
  return v
end

local function depth(v)
  local d = 0
  while v._ == "jsonArray" do
    d = d + 1
    v = v.value[1]
  end
  return d
end

-- Bytes the heap grew by per suspended coroutine that ran fn once (no collection meanwhile).
local function per_coroutine(fn)
  local N = 200
  local cos = {}
  collectgarbage()
  collectgarbage("stop")
  local k0 = collectgarbage("count")
  for i = 1, N do
    local co = coroutine.create(function() fn(); coroutine.yield() end)
    assert(coroutine.resume(co))
    cos[i] = co
  end
  local grew = (collectgarbage("count") - k0) * 1024 / #cos -- (the coroutines are alive till here)
  collectgarbage("restart")
  return grew
end

describe("tl: the Lua stack a call reserves", function()
  it("encoding or decoding a small object grows a coroutine's stack by little", function()
    local obj = { _ = "auth.sendCode", phone_number = "15550001111", api_id = 1, api_hash = "0123",
      settings = { _ = "codeSettings" } }
    local bytes = tl.encode(obj)
    local base = per_coroutine(function() end)
    local enc = per_coroutine(function() tl.encode(obj) end)
    local dec = per_coroutine(function() tl.decode(bytes) end)
    -- about 6 KiB each when the deepest nesting's stack was reserved at once
    assert(enc - base < 2048, ("tl.encode grew each coroutine by %.0f bytes"):format(enc - base))
    assert(dec - base < 2048, ("tl.decode grew each coroutine by %.0f bytes"):format(dec - base))
  end)

  it("the deepest nesting allowed still encodes and decodes in a fresh coroutine", function()
    local deepest
    for n = 1, 64 do
      if pcall(tl.encode, nested(n)) then deepest = n end
    end
    assert(deepest and deepest >= 30, "jsonArray nests only " .. tostring(deepest) .. " deep")
    local co = coroutine.wrap(function()
      local bytes = tl.encode(nested(deepest))
      local v = assert(tl.decode(bytes))
      return depth(v)
    end)
    assert.equal(deepest, co())
    assert.has_error(function() tl.encode(nested(deepest + 1)) end)
  end)
end)
