-- Regression: writing to a connection the server has closed must give the caller an error,
-- never a SIGPIPE that kills the host process (the driver wrote with write(2); it now sends
-- with MSG_NOSIGNAL). The scenario runs in a child lua5.4 so that a signal shows up as its
-- exit status instead of taking busted down.
local helpers = require("helpers")

local CHILD = [=[
local core = require("mtproto.core")
local testdc = require("mtproto.testdc")
local dc = assert(testdc.start { dcs = 1 })
local c = core.conn.new { host = dc.host, port = dc.ports[1], dc_id = 1, transport = "intermediate",
  rsa_keys = { dc.pem }, timeout = 5, connect_timeout = 2, init = { api_id = 1 } }
assert(c:connect())
dc:stop() -- waits for the server to exit: its end of the socket is closed
local body = string.pack("<I4", 0x1fb33026) -- help.getNearestDc
-- the first write after the close is accepted by the kernel and answered with a reset; the
-- next ones hit EPIPE (SIGPIPE with plain write)
local failed
for _ = 1, 4 do
  c:send(body)
  local ok, err = c:flush()
  if not ok then failed = err; break end
end
c:close()
io.write("survived ", failed and failed.message or "no error", "\n")
]=]

describe("core.conn after the server closed the socket", function()
  it("returns an error from flush instead of dying of SIGPIPE", function()
    local out, status = helpers.run_lua(CHILD)
    -- 141 = 128 + SIGPIPE
    assert.equal(0, status, out)
    assert.matches("survived NETWORK_ERROR", out, 1, true)
  end)
end)
