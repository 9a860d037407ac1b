-- client:run([seconds]) in an event loop suspends the coroutine that calls it: the loop runs
-- other work meanwhile (another client's run(), a counter), updates reach the handlers, and
-- client:stop() from a handler or the time asked ends it (the handlers themselves run as
-- updates arrive, run() or not: spec 96).
local helpers = require("helpers")

describe("client:run() in an event loop", function()
  for _, mode in ipairs(helpers.loops()) do
    it(mode .. ": two clients run at once in one loop while a third coroutine counts", function()
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20 }
      local L = helpers.loop(mode)
      local a = helpers.signed_in(dc, "9996620021", { loop = L })
      local b = helpers.signed_in(dc, "9996620022", { loop = L })
      local got, results, counted = { a = 0, b = 0 }, {}, 0
      local stats = L.run(function()
        a:on_update(function() got.a = got.a + 1 end)
        b:on_update(function() got.b = got.b + 1 end)
        local left = 3
        local function task(f) L.spawn(function() f(); left = left - 1 end) end
        task(function() results.a = table.pack(a:run(0.5)) end)
        task(function() results.b = table.pack(b:run(0.5)) end)
        task(function()
          while not (results.a and results.b) do counted = counted + 1; L.sleep(0.02) end
        end)
        while left > 0 do L.sleep(0.02) end
        a:close()
        b:close()
      end)
      assert.same({ n = 1, true }, results.a)
      assert.same({ n = 1, true }, results.b)
      assert.is_true(counted >= 5, "the counter moved " .. counted .. " times while both ran")
      assert.is_true(got.a >= 5 and got.b >= 5, ("updates: %d and %d"):format(got.a, got.b))
      assert.is_true(stats.step_cpu < 0.02, ("a client step took %.1f ms of CPU"):format(stats.step_cpu * 1000))
    end)

    it(mode .. ": client:stop() in a handler ends run(); without updates run() returns after its time", function()
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20 }
      local quiet <close> = helpers.start_testdc{ dcs = 2 }
      local L = helpers.loop(mode)
      local client = helpers.signed_in(dc, "9996620023", { loop = L })
      local idle = helpers.signed_in(quiet, "9996620024", { loop = L })
      local n, r1, r2, waited, n_at_stop = 0, nil, nil, nil, nil
      L.run(function()
        client:on_update(function() n = n + 1; if n == 3 then client:stop() end end)
        r1 = client:run() -- forever, but for stop()
        n_at_stop = n     -- (the background reader goes on running the handlers)
        local t0 = L.now()
        r2 = idle:run(0.3)
        waited = L.now() - t0
        client:close()
        idle:close()
      end)
      assert.is_true(r1)
      assert.is_true(n_at_stop >= 3, n_at_stop .. " updates when run() returned") -- forever, but for stop()
      assert.is_true(r2)
      assert.is_true(waited >= 0.3, "run(0.3) returned after " .. waited)
    end)
  end
end)
