-- An idle connection holds no working buffers: once every call is answered and everything is
-- written, the link gives back its packet buffers, its session's and its transport's
-- (state().buffered counts them); the next call takes them again. A client holding thousands
-- of idle connections would otherwise keep each one's largest packet several times over.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local testdc = require("mtproto.testdc")

local GET_CONFIG = tl.encode { _ = "help.getConfig" }

local KEYFILE = os.tmpname()
os.remove(KEYFILE) -- the test DC writes its RSA key there once and reuses it

describe("an idle connection", function()
  local dc
  setup(function() dc = assert(testdc.start { dcs = 1, key = KEYFILE }) end)
  teardown(function()
    dc:stop()
    os.remove(KEYFILE)
  end)

  for _, transport in ipairs { "padded", "full", "obfuscated" } do
    it("gives its buffers back between calls (" .. transport .. ")", function()
      local c = assert(core.conn.new { host = dc.host, port = dc.ports[1], dc_id = 1, transport = transport,
        rsa_keys = { dc.pem }, timeout = 10, connect_timeout = 5, init = { api_id = 1, device_model = "spec" } })
      assert(c:connect())
      for i = 1, 3 do
        local id = c:send(GET_CONFIG)
        assert(c:flush())
        -- a call in flight keeps them: the request is packed, its answer not read yet
        assert.is_true(c:state().buffered > 0, "call " .. i)
        local r = assert(c:wait(id))
        assert.equal("config", tl.decode(r)._)
        assert.equal(0, c:state().buffered, "after call " .. i)
      end
      c:close()
    end)
  end
end)
