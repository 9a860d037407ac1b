-- Gaps against the test DC: its push timer leaves out every Nth update (skip_pts), the
-- client notices the gap in pts (and seq), waits, and fills it with updates.getDifference,
-- in slices. Every update reaches on_update once, in order.
local helpers = require("helpers")

local signed_in = helpers.signed_in

-- "update N" texts in the order on_update got them.
local function numbers(got)
  local t = {}
  for _, u in ipairs(got) do
    local n = u._ == "updateNewMessage" and tonumber(u.message.message:match("^update (%d+)$"))
    if n then t[#t + 1] = n end
  end
  return t
end

describe("updates: gaps filled with getDifference", function()
  it("delivers every pushed update once, in order, when every 3rd is left out", function()
    local dc = helpers.start_testdc{ dcs = 2, push_updates = 25, diff_slice = 2, faults = { skip_pts = 3 } }
    local calls = {}
    local client = signed_in(dc, "9996621001", { log_level = "debug", logger = function(_, m)
      local method = m:match("^call (updates%.%w+) on DC")
      if method then calls[method] = (calls[method] or 0) + 1 end
    end })
    local got = {}
    client:on_update(function(u) got[#got + 1] = u end)
    assert.is_true(client:run(1.5))
    local seen = numbers(got)
    assert.is_true(#seen >= 12, "only " .. #seen .. " updates in 1.5 s")
    for i = 1, #seen do assert.equal(i, seen[i], "update " .. i .. " of " .. table.concat(seen, ",")) end
    assert.is_true((calls["updates.getDifference"] or 0) >= 2, "getDifference was not asked for (or in one slice)")
    assert.equal(1, calls["updates.getState"])
    -- the client's pts is the server's once it has caught up
    client:stop()
    local st = assert(client.updates.getState{})
    assert.is_true(client:run(0.6)) -- what was pushed meanwhile, and the gap wait
    local mine = client:session_info().updates
    assert.is_true(mine.pts >= st.pts, ("client pts %d, server %d"):format(mine.pts, st.pts))
    client:close()
    dc:stop()
  end)

  it("a second session of the account gets what the first sends, in order", function()
    local dc = helpers.start_testdc{ dcs = 2 }
    local a = signed_in(dc, "9996621002")
    local b = signed_in(dc, "9996621002")
    local got = {}
    b:on_update(function(u) got[#got + 1] = u end)
    assert(b.updates.getState{})
    assert.is_true(b:run(0))
    local before = b:session_info().updates.pts
    for i = 1, 3 do
      assert(a.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "m" .. i, random_id = i })
    end
    assert.is_true(b:run(0.3))
    local texts = {}
    for _, u in ipairs(got) do texts[#texts + 1] = u.message and u.message.message end
    assert.same({ "m1", "m2", "m3" }, texts)
    assert.equal(before + 3, b:session_info().updates.pts)
    a:close()
    b:close()
    dc:stop()
  end)

  it("updatesTooLong from the server asks for the difference", function()
    local dc = helpers.start_testdc{ dcs = 2, faults = { update_first = true } }
    local diffs = 0
    local a = signed_in(dc, "9996621003")
    local b = signed_in(dc, "9996621003", { log_level = "debug", logger = function(_, m)
      if m:find("^call updates.getDifference") then diffs = diffs + 1 end
    end })
    assert(b.help.getNearestDc{}) -- the state is fetched (what came before it is passed on unchecked)
    local got = {}
    b:on_update(function(u) got[#got + 1] = u end)
    assert(a.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "while away", random_id = 1 })
    assert(b.help.getNearestDc{})
    assert.is_true(diffs >= 1)
    local texts = {}
    for _, u in ipairs(got) do
      assert.is_not.equal("updatesTooLong", u._)
      if u._ == "updateNewMessage" then texts[#texts + 1] = u.message.message end
    end
    assert.same({ "while away" }, texts)
    a:close()
    b:close()
    dc:stop()
  end)
end)
