-- client:run() raised "cannot be called from an update handler" when called from any
-- coroutine while the client's update reader (another coroutine of the loop) was inside a
-- dispatch waiting for the server (its first one asks updates.getState): the flag it looked
-- at was the client's, not the coroutine's. Only a call from a handler itself is misuse.
local helpers = require("helpers")

describe("client:run() beside the update reader in an event loop", function()
  for _, mode in ipairs(helpers.loops()) do
    it(mode .. ": runs while the reader's first dispatch waits for the server", function()
      -- every answer 300 ms late: the reader's first dispatch waits that long
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20, faults = { delay_ms = 300 } }
      local L = helpers.loop(mode)
      local client = helpers.signed_in(dc, "9996620031", { loop = L })
      local got, results = 0, {}
      L.run(function()
        client:on_update(function() got = got + 1 end)
        L.sleep(0.05) -- the reader starts
        for i = 1, 5 do results[i] = table.pack(pcall(client.run, client, 0.1)) end
        -- then until the first update is handled (the reader's getState and any getDifference
        -- each take the 300 ms; on a loaded machine that outlasted the five runs)
        local deadline = L.now() + 5
        while got == 0 and L.now() < deadline do client:run(0.1) end
        client:close()
      end)
      for i = 1, 5 do assert.same({ n = 2, true, true }, results[i]) end
      assert.is_true(got > 0, "no update reached the handler")
    end)
  end
end)
