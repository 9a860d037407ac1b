-- Updates in an event loop: a client with update handlers reads its connection in the
-- background (no call, no client:run()), and the handlers run as the test DC's pushes arrive,
-- while a 10 ms timer beside it keeps ticking. The longest step of the client's coroutines
-- must stay under 20 ms of CPU (the client never holds the loop); its wall time and the
-- timer's own lateness are printed too, but the machine's load decides them. close() ends
-- the reader and the loop returns.
local helpers = require("helpers")

describe("updates in an event loop: the background reader", function()
  for _, mode in ipairs(helpers.loops()) do
    it(mode .. ": handlers run as pushes arrive, with no call made, while a timer ticks", function()
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20 }
      local L = helpers.loop(mode)
      -- signed in outside the loop (calls there block), then used inside it
      local client = helpers.signed_in(dc, "9996620011", { loop = L })
      local got = {}
      local stats = L.run(function()
        client:on_update(function(u) got[#got + 1] = u end)
        local t0 = L.now() -- from here on only sleeps: no call, no run()
        while #got < 15 and L.now() - t0 < 10 do L.sleep(0.02) end
        client:close() -- ends the reader: the loop has nothing left and returns
      end)
      print(("%s: %d updates, worst timer lateness %.1f ms, longest client step %.1f ms (CPU %.1f ms), %d ticks")
        :format(mode, #got, stats.late * 1000, stats.step * 1000, stats.step_cpu * 1000, stats.ticks))
      assert.is_true(#got >= 15, "only " .. #got .. " updates")
      for i, u in ipairs(got) do
        assert.equal("updateNewMessage", u._)
        assert.equal("update " .. i, u.message.message)
      end
      assert.is_true(stats.ticks >= 10, stats.ticks .. " ticks")
      assert.is_true(stats.step_cpu < 0.02, ("a client step took %.1f ms of CPU"):format(stats.step_cpu * 1000))
    end)

    it(mode .. ": handlers registered before the loop start with the first call made in it", function()
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20 }
      local L = helpers.loop(mode)
      local client = helpers.signed_in(dc, "9996620012", { loop = L })
      local got = {}
      client:on_update(function(u) got[#got + 1] = u end) -- outside the loop: no reader yet
      L.run(function()
        assert(client.help.getNearestDc{})                  -- in the loop: the reader starts
        local t0 = L.now()
        while #got < 5 and L.now() - t0 < 10 do L.sleep(0.02) end
        client:close()
      end)
      assert.is_true(#got >= 5, "only " .. #got .. " updates")
    end)
  end
end)
