-- mtcute (npm @mtcute/node) with its own perfect forward secrecy (network.usePfs) walks the
-- login-code ladder against the test DC: every call after the bind goes over a temporary key
-- (the test DC refuses all but the bind, help.getConfig and help.getNearestDc over an unbound
-- one), and the test DC checks each auth.bindTempAuthKey mtcute sends: its binding message
-- under mtcute's permanent key (MTProto v1), the msg_id, the session, every field. The walks go
-- straight to the DC and through the test DC's MTProxy listener with each secret kind. mtcute
-- shares no code with us: its binding is an independent check of the server's.
--
-- mtcute's fake-TLS ClientHello (0.30.3) is one 1716-byte record (16 03 01 06 b4), and
-- Telegram's own MTProxy takes only a hello record of 512..767 bytes: the listener is started
-- with mtproxy_any_hello, as MTProxy servers other than Telegram's take it.
local helpers = require("helpers")

local SECRET = "00112233445566778899aabbccddeeff"

-- name, the walk's extra arguments (mtproxy: the secret kind)
local WALKS = {
  { "padded", { transport = "padded" } },
  { "obfuscated-intermediate", { transport = "obfuscated-intermediate" } },
  { "mtproxy-plain", { mtproxy = "plain" } },
  { "mtproxy-dd", { mtproxy = "dd" } },
  { "mtproxy-ee", { mtproxy = "ee" } },
}

-- The test DC logs key ids as 16 hex digits; mtcute reports them as signed decimal.
local function hex_id(decimal)
  return ("%016x"):format(math.tointeger(tonumber(decimal)))
end

describe("mtcute with pfs against mtproto-testdc", function()
  local unavailable = helpers.interop_unavailable("@mtcute/node")
  if unavailable then
    it("is skipped", function() pending(unavailable) end)
    return
  end

  local dcs, runs, procs = {}, {}, nil

  -- one logged test DC per walk (the binds in its log are that walk's), one node process
  setup(function()
    local args = {}
    for _, w in ipairs(WALKS) do
      local name, extra = w[1], w[2]
      local dc, count, stop = helpers.logged_dc{ dcs = 3, mtproxy = SECRET, mtproxy_any_hello = true }
      dcs[name] = { dc = dc, count = count, stop = stop }
      local a = helpers.interop_args(dc, { name = name, transport = extra.transport or "padded", dc = 2, pfs = true })
      if extra.mtproxy then a.proxy = (dc:proxy_url(extra.mtproxy):gsub("^tg://proxy", "https://t.me/proxy")) end
      args[#args + 1] = a
    end
    procs = helpers.run_node_jobs({ { "pfs", "mtcute_login.mjs", { runs = args, timeout_ms = 60000 } } }, 1)
    for _, res in ipairs(procs.pfs.res and procs.pfs.res.runs or {}) do runs[res.name] = res end
  end)

  teardown(function()
    for _, d in pairs(dcs) do d.stop() end
  end)

  for _, w in ipairs(WALKS) do
    local name = w[1]
    it("binds a temporary key on each DC and walks the ladder over it: " .. name, function()
      local res = runs[name]
      assert(res, "no result for " .. name .. " from node:\n" .. tostring(procs.pfs.out))
      assert.same({}, res.failures)
      assert.is_true(res.ok)
      assert.equal("auth.authorization", res.steps[#res.steps].result) -- signed in on the other DC too
      local d = dcs[name]
      -- the test DC accepted mtcute's binding messages under each of its two permanent keys
      for _, id in ipairs{ res.auth_key_id, res.migrated_auth_key_id } do
        assert.is_string(id)
        assert.is_true(d.count("temporary key %x+ bound to " .. hex_id(id)) >= 1,
          "no temporary key bound to mtcute's permanent key " .. id)
      end
      assert.equal(0, d.count("auth.bindTempAuthKey refused"))
      assert.is_true(d.count("new auth key %x+ %(inner dc %d+%), temporary") >= 2)
      if w[2].mtproxy then
        assert.is_true(d.count("mtproxy conn%d+: to DC") >= 2, "not through the MTProxy listener")
        if w[2].mtproxy == "ee" then assert.is_true(d.count("fake%-TLS hello answered") >= 2) end
      end
    end)
  end
end)
