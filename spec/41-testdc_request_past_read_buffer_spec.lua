-- The test DC reads its connections edge-triggered: epoll says once that bytes came, and a
-- read that fills the server's 64 KiB buffer must be followed by another read of its own, since
-- no second event comes for bytes already waiting. A request several times that size, whose
-- query stands at its very end (help.getNearestDc after a 300 kB initConnection param), is
-- answered only when every byte was read; the connection serves ordinary calls afterwards.
local helpers = require("helpers")

describe("test DC: a request longer than its read buffer", function()
  local T = helpers.use_testdc{ dcs = 1 }

  it("is read to its end and answered", function()
    local conn = helpers.conn(T.dc, 1)
    local big = string.rep("0123456789abcdef", 300000 // 16)
    local r = assert(helpers.call(conn, { _ = "invokeWithLayer", layer = 223, query = { _ = "initConnection",
      api_id = helpers.API_ID, device_model = "spec", system_version = "1", app_version = "1",
      system_lang_code = "en", lang_pack = "", lang_code = "en", params = { _ = "jsonString", value = big },
      query = { _ = "help.getNearestDc" } } }, 5))
    assert.same({ "nearestDc", 1 }, { r._, r.this_dc })
    for _ = 1, 3 do
      r = assert(helpers.call(conn, { _ = "help.getNearestDc" }, 5))
      assert.equal("nearestDc", r._)
    end
    conn:close()
  end)
end)
