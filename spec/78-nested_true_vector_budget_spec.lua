-- Regression: a user-loaded schema with Vector<Vector<true>> let 16 KB of input decode into
-- 54 MiB of Lua tables: `true` takes no bytes, so each inner vector's count was only checked
-- against the bytes left, again and again. All the vectors of one decode now share a budget of
-- elements as large as the input (plus what gzip_packed inflates), besides the depth limit.
local tl = require("mtproto.tl")

local function le32(n) return string.pack("<I4", n) end

describe("decoding vectors of zero-byte elements", function()
  local r = tl.new()
  assert(r.load_string("flagGrid#5e1d0a77 rows:Vector<Vector<true>> = FlagGrid;\n"))

  it("is bounded by the input's size in total, not per vector", function()
    -- 4090 inner vectors, each claiming ~16K elements: 67M `true`s from 16 KB
    local outer = 4090
    local parts = { le32(0x5e1d0a77), le32(0x1cb5c415), le32(outer) }
    local total = 12 + outer * 8
    for i = 1, outer do parts[#parts + 1] = le32(0x1cb5c415) .. le32(total - (12 + i * 8)) end
    local bytes = table.concat(parts)
    assert.equal(total, #bytes)
    local v, err = r.decode(bytes)
    assert.is_nil(v)
    assert.equal("OUT_OF_RANGE", err.message)
    assert.matches("exceeds the decoding budget", err.detail)
  end)

  it("still decodes vectors within the budget", function()
    local bytes = le32(0x5e1d0a77) .. le32(0x1cb5c415) .. le32(2)
      .. le32(0x1cb5c415) .. le32(3) .. le32(0x1cb5c415) .. le32(0)
    local v = assert(r.decode(bytes))
    assert.same({ { true, true, true }, {} }, v.rows)
  end)
end)
