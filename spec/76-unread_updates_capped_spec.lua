-- Regression: updates nobody read piled up without a cap (200k of them: +1.2 MiB, and more
-- for bigger ones). A connection now keeps at most `max_updates` unread updates (default
-- 10000, MT_CONN_MAX_UPDATES): when full, the oldest quarter is dropped, counted in
-- conn:state().updates_dropped and logged.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local helpers = require("helpers")

describe("unread updates", function()
  it("are capped: the oldest are dropped, counted and logged", function()
    local dc <close> = helpers.start_testdc{ dcs = 1, faults = { update_first = true } }
    local lines = {}
    local c <close> = helpers.conn(dc, 1, { max_updates = 40,
      log = function(level, msg) if level <= 1 then lines[#lines + 1] = msg end end })
    for i = 1, 100 do assert(c:call(tl.encode{ _ = "ping", ping_id = i })) end  -- one update each
    local st = c:state()
    local kept = c:updates()
    assert.is_true(#kept <= 40, #kept .. " updates kept")
    assert.equal(100, #kept + st.updates_dropped)
    assert.equal("updatesTooLong", tl.decode(kept[#kept])._)
    assert.truthy(table.concat(lines, "\n"):find("unread update(s) dropped, the oldest (at most 40 are kept)", 1, true))
    -- once read, the count starts again
    assert(c:call(tl.encode{ _ = "ping", ping_id = 101 }))
    assert.equal(1, #c:updates())
    assert.equal(st.updates_dropped, c:state().updates_dropped)
    assert.has_error(function() core.conn.new{ host = dc.host, port = dc.ports[1], max_updates = 0 } end)
  end)
end)
