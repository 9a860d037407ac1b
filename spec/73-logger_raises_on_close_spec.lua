-- Regression: a logger that raised on the "closed" line left the client half-closed: its
-- connections were closed but the client was not marked closed and went on working. The
-- client is now marked closed before anything is logged, a raising logger goes no further
-- than its own line, and close() stays idempotent.
local helpers = require("helpers")

describe("client:close() with a logger that raises", function()
  local T = helpers.use_testdc{ dcs = 1 }

  it("closes the client for good, saves the session, and a second close is a no-op", function()
    local path = os.tmpname()
    os.remove(path)
    local raised = 0
    local client = helpers.client(T.dc, { dc = 1, session = path, log_level = "debug",
      logger = function(_, msg)
        if msg == "closed" then raised = raised + 1; error("logger refuses to log 'closed'") end
      end })
    assert(client:invoke{ _ = "ping", ping_id = 1 })
    assert.is_true(client:close())
    assert.equal(1, raised)
    assert.equal("mtproto.client (closed)", tostring(client))
    assert.has_error(function() client:invoke{ _ = "ping", ping_id = 2 } end,
      "mtproto: attempt to use a closed client")
    assert.is_true(client:close())
    assert.equal(1, raised)
    local again = assert(require("mtproto").client(T.dc:client_options{ api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, dc = 1, session = path }))
    assert.is_table(again:session_info().dcs[1])         -- the key was saved on close
    again:close()
    os.remove(path)
  end)
end)
