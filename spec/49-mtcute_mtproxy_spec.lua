-- mtcute (npm @mtcute/node), an independent client, reaches the test DC through the test DC's
-- own MTProxy listener (plain, dd and ee secrets, from https://t.me/proxy links) and through
-- Debian's microsocks (SOCKS5, with and without a login), with mtcute's own proxy transports:
-- the login-code ladder of spec 46, PHONE_MIGRATE included (the second DC is reached through
-- the same proxy, the listener serving the DC that mtcute's obfuscated2 init names).
local helpers = require("helpers")
local testdc = require("mtproto.testdc")

local SECRET = "00112233445566778899aabbccddeeff"

local EXPECTED_STEPS = helpers.MTCUTE_LADDER_STEPS

describe("mtcute through the test DC's MTProxy listener and through microsocks", function()
  local unavailable = helpers.interop_unavailable("@mtcute/node")
  if unavailable then
    it("is skipped", function() pending(unavailable) end)
    return
  end

  local dc, open, login
  local logpath = os.tmpname()
  local runs, out = {}, {}

  setup(function()
    -- mtcute 0.30 sends a Chrome-shaped ClientHello of about 1.7 KB (an X25519MLKEM768 key
    -- share): Telegram's own MTProxy takes only a hello record of 512..767 bytes (16 03 01 02),
    -- the test DC too by default; this listener takes any size, as other MTProxy servers do
    dc = assert(testdc.start{ dcs = 3, mtproxy = SECRET, mtproxy_any_hello = true, verbose = 1, log = logpath })
    open = helpers.start_microsocks()
    -- mtcute takes a socks5:// link's user and password as written (no %XX decoding)
    login = helpers.start_microsocks{ user = "carol", password = "s3cret" }
    local function link(kind)
      -- mtcute takes t.me links; the test DC makes tg:// ones with the same query
      return (dc:proxy_url(kind):gsub("^tg://proxy", "https://t.me/proxy"))
    end
    local walks = {
      helpers.interop_args(dc, { name = "plain", transport = "intermediate", dc = 2, proxy = link("plain") }),
      helpers.interop_args(dc, { name = "dd", transport = "padded", dc = 2, proxy = link("dd") }),
      -- with mtcute's own perfect forward secrecy too: temporary keys bound through the proxy
      helpers.interop_args(dc, { name = "ee", transport = "padded", dc = 2, proxy = link("ee"), pfs = true }),
      helpers.interop_args(dc, { name = "socks5", transport = "intermediate", dc = 2,
        proxy = ("socks5://127.0.0.1:%d"):format(open.port) }),
      helpers.interop_args(dc, { name = "socks5 login", transport = "intermediate", dc = 2,
        proxy = ("socks5://carol:s3cret@127.0.0.1:%d"):format(login.port) }),
    }
    -- a wrong password: proof that mtcute's connections do go through microsocks
    local refused = { helpers.interop_args(dc, { name = "socks5 wrong login", transport = "intermediate", dc = 2,
      proxy = ("socks5://carol:wrong@127.0.0.1:%d"):format(login.port) }) }
    local procs = helpers.run_node_jobs({
      { "proxies", "mtcute_login.mjs", { runs = walks, timeout_ms = 60000 } },
      { "refused", "mtcute_login.mjs", { runs = refused, timeout_ms = 5000 } },
    }, 2)
    for _, proc in pairs(procs) do
      for _, res in ipairs(proc.res and proc.res.runs or {}) do runs[res.name] = res end
    end
    out.text, out.status = procs.proxies.out, procs.proxies.status
  end)

  teardown(function()
    if open then open.stop() end
    if login then login.stop() end
    if dc then dc:stop() end
    os.remove(logpath)
  end)

  local function assert_walk(name)
    local res = runs[name]
    assert(res, ("no result for %s from node (exit %s):\n%s"):format(name, tostring(out.status), tostring(out.text)))
    assert.same({}, res.failures)
    assert.is_true(res.ok)
    assert.is_true(res.checks >= 60, "too few checks ran: " .. tostring(res.checks))
    local steps = {}
    for i, st in ipairs(res.steps) do steps[i] = { step = st.step, result = st.result, error = st.error } end
    assert.same(EXPECTED_STEPS, steps)
    assert.not_equal(res.auth_key_id, res.migrated_auth_key_id)
    return res
  end

  -- the listener's log: which DC each MTProxy connection asked for, and in what framing
  local function proxied()
    local text = helpers.slurp(logpath) or ""
    local seen = {}
    for d, kind in text:gmatch("mtproxy conn%d+: to DC (%d+) %(init %-?%d+, (%a+)%)") do seen[#seen + 1] = d .. " " .. kind end
    return table.concat(seen, ",")
  end

  it("walks the ladder through the MTProxy listener with a plain secret (intermediate inside)", function()
    assert_walk("plain")
    assert.matches("2 intermediate", proxied(), 1, true)
    assert.matches("1 intermediate", proxied(), 1, true)        -- PHONE_MIGRATE_1 through the proxy
  end)

  it("walks the ladder through the MTProxy listener with a dd secret (padded intermediate inside)", function()
    assert_walk("dd")
    assert.matches("2 padded", proxied(), 1, true)
    assert.matches("1 padded", proxied(), 1, true)
  end)

  it("walks the ladder through the MTProxy listener with an ee secret (fake TLS, padded inside), with pfs", function()
    local res = assert_walk("ee")
    local log = helpers.slurp(logpath) or ""
    -- two fake-TLS hellos answered (one per DC), the listener's answer checked by mtcute
    local hellos = select(2, log:gsub("fake%-TLS hello answered", ""))
    assert.is_true(hellos >= 2, "fake-TLS hellos answered: " .. hellos)
    -- a temporary key bound to each of mtcute's permanent keys, through the proxy
    for _, id in ipairs { res.auth_key_id, res.migrated_auth_key_id } do
      local hex = ("%016x"):format(math.tointeger(tonumber(id)))
      assert.matches("temporary key %x+ bound to " .. hex, log)
    end
    assert.is_nil(log:find("auth.bindTempAuthKey refused", 1, true))
  end)

  it("walks the ladder through microsocks without a login", function()
    assert_walk("socks5")
  end)

  it("walks the ladder through microsocks with a login; a wrong password gets no further than microsocks", function()
    assert_walk("socks5 login")
    local res = assert(runs["socks5 wrong login"], out.text)
    assert.is_false(res.ok)
    assert.is_nil(res.steps[1] and res.steps[1].result)             -- not even help.getConfig
    assert.matches("SOCKS auth", table.concat(res.failures, "\n"), 1, true)
  end)
end)
