-- Regression: core.transport.container_pack leaked its C buffer when reading an item raised
-- (a field of the wrong type, an __index that raises) after earlier items had been packed.
-- Fields are now all read before the buffer exists. (The SANITIZE=1 build's LeakSanitizer
-- sees a single leak; the RSS check of the plain build sees hundreds.)
local core = require("mtproto.core")
local helpers = require("helpers")

local function rss() return helpers.rss_kib() / 1024 end

describe("core.transport.container_pack", function()
  it("raises on a bad item without leaking what it packed before it", function()
    local big = { msg_id = 4, seqno = 1, body = string.rep("\1\2\3\4", 64 * 1024) } -- 256 KiB
    local raising = setmetatable({}, { __index = function(_, k) error("no field " .. k) end })
    local function pack_bad(i)
      local bad = i % 2 == 0 and { msg_id = "x", body = "abcd" } or raising
      return core.transport.container_pack{ big, big, bad }
    end
    local ok, err = pcall(pack_bad, 0)
    assert.is_false(ok)
    assert.matches("field 'msg_id' must be an integer", err)
    ok, err = pcall(pack_bad, 1)
    assert.is_false(ok)
    assert.matches("no field msg_id", err)
    collectgarbage(); collectgarbage()
    local before = rss()
    for i = 1, 400 do assert.is_false(pcall(pack_bad, i)) end  -- 200 MiB if each leaked 512 KiB
    collectgarbage(); collectgarbage()
    local grown = rss() - before
    -- (under ASan freed blocks stay in its quarantine: RSS says nothing, LeakSanitizer does)
    if not (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) then
      assert.is_true(grown < 32, ("RSS grew by %.1f MiB"):format(grown))
    end
    -- the good path still packs
    local packed = assert(core.transport.container_pack{ big, { msg_id = 8, seqno = 3, body = "abcd" } })
    assert.equal(2, #assert(core.transport.container_unpack(packed)))
  end)
end)
