-- wait_login looked for updateLoginToken by pinging the connection and sleeping 0.25 s in
-- between: an accepted QR code was seen up to a quarter of a second late, and the DC got four
-- pings a second while nobody scanned. It now waits on the update path (blocking on the
-- connection, or suspended in cqueues / luv) and is woken by the update itself. Here another
-- process signs in, waits, and accepts the token while wait_login runs; the test DC's log
-- says which requests the waiting client sent meanwhile (only the final export).
local helpers = require("helpers")
local core = require("mtproto.core")

-- The accepting device, in a child process: signs in with `phone`, lets the parent wait a
-- moment, accepts `token`, prints the monotonic time its answer came at.
local ACCEPT = [[
local mtproto, core = require("mtproto"), require("mtproto.core")
local c = assert(mtproto.client{ api_id = 1, api_hash = "testdc", rsa_keys = { %q }, dc = 1,
  dc_options = { { host = %q, port = %d } } })
assert(c:send_code(%q))
assert(c:sign_in("11111"))
core.conn.sleep(0.4)
assert(c.auth.acceptLoginToken{ token = (("%s"):gsub("%%x%%x", function(x) return string.char(tonumber(x, 16)) end)) })
io.write(string.format("%%.6f\n", core.conn.monotonic()))
c:close()
]]

local function modes()
  local m = { "blocking" }
  for _, l in ipairs(helpers.loops()) do m[#m + 1] = l end
  return m
end

describe("wait_login", function()
  local dc, count, stop
  lazy_setup(function() dc, count, stop = helpers.logged_dc{ dcs = 1, resend_timeout = 0, flood = false } end)
  lazy_teardown(function() stop() end)

  for i, mode in ipairs(modes()) do
    it("completes as soon as updateLoginToken arrives, sending nothing while it waits (" .. mode .. ")", function()
      local late, returned
      helpers.under_loop(mode, function(loop)
        local c = helpers.client(dc, { dc = 1, loop = loop })
        local tok = assert(c:qr_login())
        local pings, exports = count("[ (]ping"), count("exportLoginToken")
        local script = helpers.tmpname()
        local f = assert(io.open(script, "w"))
        f:write(ACCEPT:format(dc.pem, dc.host, dc.ports[1], "99966110" .. (10 + i), helpers.hex(tok.token)))
        f:close()
        local child = assert(io.popen(helpers.LUA .. " " .. script .. " 2>&1"))
        local auth, err = c:wait_login(10)
        returned = core.conn.monotonic()
        local out = child:read("a")
        child:close()
        os.remove(script)
        assert(auth, tostring(err) .. " / " .. out)
        assert.equal("ready", c:login_state().state)
        late = returned - assert(tonumber(out:match("^([%d.]+)\n$")), out)
        -- the waiting client sent no ping, and exported once: for the success
        assert.equal(pings, count("[ (]ping"))
        assert.equal(exports + 1, count("exportLoginToken"))
        c:close()
      end)
      print(("\n    %s: wait_login returned %.1f ms after the acceptance was answered"):format(mode, late * 1000))
      -- the update and the acceptance's answer leave the DC together: one export round trip
      -- later the login is done (the old polling took up to 250 ms)
      assert.is_true(late < 0.2, ("%.3f s"):format(late))
    end)
  end
  -- The connection drops while the code waits to be scanned, and the other device accepts it
  -- before the client is connected again: the updateLoginToken pushed meanwhile is lost, so
  -- after reconnecting wait_login exports the token once more, and the server answers that
  -- export with the authorization. Both devices run on the loop, so the drop and the
  -- acceptance happen in the order written.
  for i, mode in ipairs(helpers.loops()) do
    it("exports again after the connection dropped, and gets the login accepted meanwhile (" .. mode .. ")",
        function()
      helpers.under_loop(mode, function(loop)
        local A = require("mtproto.loop").adapter(loop)
        local c = helpers.client(dc, { dc = 1, loop = loop })
        local tok = assert(c:qr_login())
        local exports = count("exportLoginToken")
        local accepted
        A.spawn(function()
          local d = helpers.signed_in(dc, "99966110" .. (20 + i), { dc = 1, loop = loop })
          local conn = assert(c:connection(1))
          A.forget(conn:pollfd())
          conn:disconnect()
          accepted = assert(d.auth.acceptLoginToken{ token = tok.token })
          d:close()
        end)
        local auth, err = c:wait_login(10)
        assert(auth, tostring(err))
        assert.equal("authorization", accepted._)
        assert.equal("ready", c:login_state().state)
        assert.equal(exports + 1, count("exportLoginToken"))
        c:close()
      end)
    end)
  end
end)
