-- mtproto.qr: the QR code `mtproto login --qr` draws (libqrencode, optional module).
require("helpers")

local ok, qr = pcall(require, "mtproto.qr")

describe("mtproto.qr", function()
  if not ok then
    it("is skipped", function() pending("mtproto.qrencode was not built (install libqrencode-dev)") end)
    return
  end

  local url = "tg://login?token=AQJ3b2tlbl9mb3JfdGhlX3Rlc3RfZGNfMTIzNDU2Nzg5MA"

  -- A finder pattern: a 7x7 dark ring, a light ring inside, a 3x3 dark core.
  local function finder_at(m, x0, y0)
    for dy = 0, 6 do
      for dx = 0, 6 do
        local ring = math.max(math.abs(dx - 3), math.abs(dy - 3))
        local want = ring ~= 2
        if m[y0 + dy][x0 + dx] ~= want then return false end
      end
    end
    return true
  end

  it("has the size of a QR version and the three finder patterns", function()
    local m = assert(qr.matrix(url))
    local n = #m
    assert.are.equal(0, (n - 17) % 4) -- 21, 25, ... (17 + 4 * version)
    assert.is_true(n >= 21)
    for _, row in ipairs(m) do assert.are.equal(n, #row) end
    assert.is_true(finder_at(m, 1, 1))
    assert.is_true(finder_at(m, n - 6, 1))
    assert.is_true(finder_at(m, 1, n - 6))
    assert.is_false(finder_at(m, n - 6, n - 6))
    -- the timing pattern between the top finders alternates
    for x = 9, n - 8 do assert.are.equal(x % 2 == 1, m[7][x]) end
  end)

  it("encodes different links differently, the same link the same", function()
    local a = assert(qr.terminal(url))
    assert.are.equal(a, qr.terminal(url))
    assert.are_not.equal(a, qr.terminal(url .. "x"))
  end)

  it("draws two module rows per terminal line with a 4-module quiet zone", function()
    local m = assert(qr.matrix(url))
    local n = #m
    local lines = {}
    for line in (qr.terminal(url) .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
    assert.are.equal((n + 8 + 1) // 2, #lines)
    assert.are.equal(n + 8, utf8.len(lines[1]))
    assert.are.equal(string.rep("\u{2588}", n + 8), lines[1]) -- quiet zone: all light
    -- line 3 holds matrix rows 1-2; column 1 of both is the top-left finder's dark edge
    assert.are.equal(" ", lines[3]:sub(utf8.offset(lines[3], 5), utf8.offset(lines[3], 6) - 1))
  end)

  it("refuses what it cannot encode", function()
    assert.has_error(function() qr.matrix("") end)
    local r, err = qr.matrix(string.rep("x", 8000))
    assert.is_nil(r)
    assert.is_string(err)
  end)
end)
