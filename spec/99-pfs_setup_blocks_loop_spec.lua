-- The pfs set-up of a client in an event loop (a fresh session: the permanent key's
-- handshake, the temporary key's handshake, the auth.bindTempAuthKey round trip) ran
-- blocking inside C: it froze the host loop for all of it, and the call's `timeout` did not
-- bound it. Now every wait of the set-up suspends the calling coroutine: a 10 ms timer beside
-- the first call keeps ticking and no step of the client holds the loop (the bound of the
-- other loop specs: 20 ms of CPU), and a DC that stalls during the bind gives TIMEOUT when
-- the call's time is over, the timer ticking meanwhile.
local helpers = require("helpers")
local core = require("mtproto.core")

describe("pfs set-up in an event loop", function()
  for _, mode in ipairs(helpers.loops()) do
    it(mode .. ": a first call (two handshakes and the bind) leaves the loop running", function()
      -- every answer 100 ms late: the set-up's 7 round trips take 0.7 s, which a blocking
      -- set-up would hold the loop for
      local dc <close> = helpers.start_testdc{ dcs = 1, faults = { delay_ms = 100 } }
      local L = helpers.loop(mode)
      local got, ticks, took
      local stats = L.run(function()
        local c = helpers.client(dc, { dc = 1, loop = L })   -- pfs on: the default
        local t0, ticks0 = core.conn.monotonic(), L.stats.ticks
        got = table.pack(c.help.getNearestDc{})
        took, ticks = core.conn.monotonic() - t0, L.stats.ticks - ticks0
        assert(c:session_info())
        c:close()
      end)
      assert.is_true(got[1] ~= nil, tostring(got[2]))
      assert.equal("nearestDc", got[1]._)
      print(("\n%s: pfs set-up + call %.0f ms, %d ticks, worst timer lateness %.1f ms, longest client step %.1f ms CPU")
        :format(mode, took * 1000, ticks, stats.late * 1000, stats.step_cpu * 1000))
      assert.is_true(stats.step_cpu < 0.02, ("a client step took %.1f ms of CPU"):format(stats.step_cpu * 1000))
      -- the timer's own lateness also counts the machine's load: a generous bound, still far
      -- under the set-up's 0.7 s
      assert.is_true(stats.late < 0.25, ("a tick came %.0f ms late"):format(stats.late * 1000))
      assert.is_true(ticks >= 20, ("the timer ticked %d times in the %.0f ms of the set-up and call")
        :format(ticks, took * 1000))
    end)

    it(mode .. ": a DC stalling during the bind: TIMEOUT after the call's 0.5 s, the timer ticking", function()
      local dc <close> = helpers.start_testdc{ dcs = 1, faults = { stall_after = 1 } } -- the bind is the 1st request
      local L = helpers.loop(mode)
      local r, err, took, ticks
      L.run(function()
        local c = helpers.client(dc, { dc = 1, loop = L, timeout = 5 })
        local t0, ticks0 = core.conn.monotonic(), L.stats.ticks
        r, err = c:invoke({ _ = "help.getNearestDc" }, { timeout = 0.5 })
        took, ticks = core.conn.monotonic() - t0, L.stats.ticks - ticks0
        c:close()
      end)
      assert.is_nil(r)
      assert.equal("TIMEOUT", err.message)
      assert.is_true(took >= 0.45 and took < 2, ("TIMEOUT after %.2f s"):format(took))
      assert.is_true(ticks >= 10, ("the timer ticked %d times in the %.2f s"):format(ticks, took))
    end)
  end
end)
