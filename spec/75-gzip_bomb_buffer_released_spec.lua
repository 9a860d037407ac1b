-- Regression: after one gzip-bomb answer (a gzip_packed inflating past the 16 MiB cap) the
-- session kept its inflate buffer at 16 MiB until it was closed: RSS stayed up. A buffer grown
-- past 256 KiB is now freed as soon as the answer is copied into its request.
--
-- Measured in a child process (a fresh heap: RSS in the long-lived busted process is noise).
-- Under ASan freed memory sits in its quarantine, so RSS says nothing there: the run is then
-- only checked for completing.
local helpers = require("helpers")

local CHILD = [[
local helpers = require("helpers")
local function rss() return helpers.rss_kib() / 1024 end
local dc <close> = helpers.start_testdc{ dcs = 1, faults = { gzip_bomb = true } }
local client <close> = helpers.client(dc, { dc = 1, pfs = false }) -- the fault hits once per session: not the bind
assert(client:connection(1))
collectgarbage(); collectgarbage()
local before = rss()
local r, err = client:invoke{ _ = "ping", ping_id = 1 }  -- the bomb comes before this answer
assert(r == nil and err.message == "PROTOCOL_ERROR", tostring(err))
assert(assert(client:invoke{ _ = "ping", ping_id = 2 }).ping_id == 2)
collectgarbage(); collectgarbage()
io.write(("grown %.2f\n"):format(rss() - before))
]]

describe("a gzip bomb", function()
  it("does not keep its 16 MiB buffer after the answer", function()
    local out = helpers.run_lua(CHILD)
    local grown = tonumber(out:match("grown (%S+)"))
    assert.is_number(grown, out)
    if not (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) then
      assert.is_true(grown < 8, ("RSS grew by %.1f MiB"):format(grown))
    end
  end)
end)
