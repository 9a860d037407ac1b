-- Regression: a logger that closed the client from inside a call crashed the process. The
-- driver called the logger while it was inside its wait (here on new_session_created); the
-- logger's client:close() freed the connection under the wait's feet (heap-use-after-free,
-- SIGSEGV). The driver's log lines now reach Lua only once its C call has returned, so a
-- logger may close the client, make a call or raise: the call in progress then returns
-- CLIENT_CLOSED, or goes on.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local helpers = require("helpers")

describe("a logger that closes, calls or raises during a call", function()
  local T = helpers.use_testdc{ dcs = 1, faults = { new_session = true } }

  local function client_with(logger)
    local client
    client = helpers.client(T.dc, { dc = 1, log_level = "info",
      logger = function(level, msg) return logger(client, level, msg) end })
    return client
  end

  it("close: the call returns CLIENT_CLOSED and the client is closed", function()
    local seen = 0
    local client = client_with(function(c, _, msg)
      if msg:find("new_session_created", 1, true) then seen = seen + 1; c:close() end
    end)
    local r, err = client:invoke{ _ = "ping", ping_id = 1 }
    assert.is_nil(r)
    assert.equal("CLIENT_CLOSED", err.message)
    assert.equal("final", err.kind)
    assert.equal(1, seen)
    assert.has_error(function() client:invoke{ _ = "ping", ping_id = 2 } end,
      "mtproto: attempt to use a closed client")
    assert.equal("mtproto.client (closed)", tostring(client))
  end)

  it("call: the logger's own call and the call in progress both get their answer", function()
    local inner, called
    local client = client_with(function(c, _, msg)
      if msg:find("new_session_created", 1, true) and not called then
        called = true
        inner = assert(c:invoke{ _ = "ping", ping_id = 20 })
      end
    end)
    local pong = assert(client:invoke{ _ = "ping", ping_id = 10 })
    assert.equal(10, pong.ping_id)
    assert.equal(20, inner.ping_id)
    assert.equal(30, assert(client:invoke{ _ = "ping", ping_id = 30 }).ping_id)
    client:close()
  end)

  it("raise: every log line raising changes nothing for the calls", function()
    local lines = 0
    local client = client_with(function() lines = lines + 1; error("logger failure") end)
    local pending = client:send{ _ = "ping", ping_id = 41 }
    assert.equal(40, assert(client:invoke{ _ = "ping", ping_id = 40 }).ping_id)
    assert.equal(41, assert(pending:wait()).ping_id)
    assert.is_true(lines > 2)
    client:close()
  end)

  it("core.conn: a log function that closes the connection mid-wait gets CLOSED", function()
    local c
    c = helpers.conn(T.dc, 1, { log = function(_, msg)
      if msg:find("new_session_created", 1, true) then c:close() end
    end })
    local r, err = c:call(tl.encode{ _ = "ping", ping_id = 5 })
    assert.is_nil(r)
    assert.same({ code = -17, message = "CLOSED", detail = "the connection was closed by a callback during the call" }, err)
    assert.has_error(function() c:state() end, "attempt to use a closed connection")
    assert.is_function(core.conn.new)
  end)
end)
