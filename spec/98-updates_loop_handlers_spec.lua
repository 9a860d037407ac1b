-- Update handlers run by the background reader of a client in an event loop may raise, call
-- the client or close it: a raise is logged and the next updates still come, a call suspends
-- the handler like any call in the loop, and a close ends the reader (the loop returns).
local helpers = require("helpers")

describe("update handlers in an event loop", function()
  for _, mode in ipairs(helpers.loops()) do
    it(mode .. ": a handler that raises, one that calls the client, one that closes it", function()
      local dc <close> = helpers.start_testdc{ dcs = 2, push_updates = 20 }
      local L = helpers.loop(mode)
      local errors = {}
      local client = helpers.signed_in(dc, "9996620031", { loop = L, log_level = "error",
        logger = function(_, msg) errors[#errors + 1] = msg end })
      local n, answers, closed_at = 0, {}, nil
      L.run(function()
        client:on_update(function()
          n = n + 1
          if n == 1 then error("handler failure " .. n) end
          if n == 2 then answers[#answers + 1] = assert(client.help.getNearestDc{}) end
          if n == 4 then closed_at = n; client:close() end
        end)
        -- nothing else keeps the loop: it returns when the closing handler ended the reader
      end)
      assert.equal(4, closed_at)
      assert.equal(4, n)
      assert.equal(1, #answers)
      assert.equal("nearestDc", answers[1]._)
      assert.equal(1, #errors)
      assert.matches("handler failure 1", errors[1])
    end)
  end
end)
