-- QR login: client:qr_login / client:wait_login against the test DC: a second signed-in
-- client accepts the token (auth.acceptLoginToken), updateLoginToken is pushed to the
-- exporting session, loginTokenMigrateTo when the account lives on another DC, token expiry,
-- and the automatic acceptance switch.
local helpers = require("helpers")
local core = require("mtproto.core")

local function b64url_decode(s)
  local chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
  local bits = {}
  for i = 1, #s do
    local v = chars:find(s:sub(i, i), 1, true) - 1
    for b = 5, 0, -1 do bits[#bits + 1] = (v >> b) & 1 end
  end
  local out = {}
  for i = 1, #bits - 7, 8 do
    local n = 0
    for j = 0, 7 do n = n * 2 + bits[i + j] end
    out[#out + 1] = string.char(n)
  end
  return table.concat(out)
end

-- A client signed in with `phone` (a test number of DC dc).
local function signed_in(dc, phone, x)
  local c = helpers.client(dc, { dc = x })
  assert(c:send_code(phone))
  local auth = assert(c:sign_in(string.rep(tostring(x), 5)))
  return c, auth.user
end

local fails = helpers.fails

describe("QR login", function()
  local T = helpers.use_testdc{ dcs = 2, resend_timeout = 0, flood = false }

  it("waits for another signed-in device to accept the token", function()
    local other, user = signed_in(T.dc, "9996621000", 2)
    local c = helpers.client(T.dc)
    local tok = assert(c:qr_login())
    assert.equal("auth.loginToken", tok._)
    local st = c:login_state()
    assert.equal("wait_other_device", st.state)
    assert.equal(tok.expires, st.expires)
    local b64 = st.url:match("^tg://login%?token=([A-Za-z0-9_%-]+)$")
    assert.truthy(b64, st.url)
    assert.equal(tok.token, b64url_decode(b64))
    -- nothing accepted yet
    local t0 = core.conn.monotonic()
    fails(-16, "TIMEOUT", c:wait_login(0.3))
    assert.is_true(core.conn.monotonic() - t0 >= 0.29)
    assert.equal(st.url, c:login_state().url) -- the same token while it is alive
    fails(400, "AUTH_TOKEN_INVALID", other.auth.acceptLoginToken{ token = string.rep("\0", 32) })
    local a = assert(other.auth.acceptLoginToken{ token = tok.token })
    assert.equal("authorization", a._)
    fails(400, "AUTH_TOKEN_ALREADY_ACCEPTED", other.auth.acceptLoginToken{ token = tok.token })
    local auth = assert(c:wait_login(5))
    assert.equal("auth.authorization", auth._)
    assert.equal(user.id, auth.user.id)
    st = c:login_state()
    assert.equal("ready", st.state)
    assert.equal(user.id, st.user.id)
    assert.equal(user.id, c:session_info().user_id)
    other:close()
    c:close()
  end)

  it("pushes updateLoginToken to the exporting session", function()
    local other = signed_in(T.dc, "9996621001", 2)
    local c = helpers.client(T.dc)
    local tok = assert(c:qr_login())
    assert(other.auth.acceptLoginToken{ token = tok.token })
    local seen = helpers.eventually(function()
      assert(c:invoke{ _ = "ping", ping_id = 1 })
      for _, u in ipairs(c:get_updates()) do
        if type(u) == "table" and u._ == "updateLoginToken" then return true end -- unpacked from updateShort
      end
    end, 3)
    assert.is_true(seen)
    -- the next export is the success
    local r = assert(c:qr_login())
    assert.equal("auth.loginTokenSuccess", r._)
    assert.equal("ready", c:login_state().state)
    other:close()
    c:close()
  end)

  it("follows loginTokenMigrateTo to the DC of the account (the home DC moves)", function()
    local other, user = signed_in(T.dc, "9996611002", 1)
    local c = helpers.client(T.dc, { dc = 2 })
    local tok = assert(c:qr_login())
    assert(other.auth.acceptLoginToken{ token = tok.token })
    local auth = assert(c:wait_login(5))
    assert.equal(user.id, auth.user.id)
    local info = c:session_info()
    assert.equal(1, info.home_dc)
    assert.is_table(info.dcs[1])
    assert.equal("ready", c:login_state().state)
    -- the raw methods: the token is used up
    fails(400, "AUTH_TOKEN_INVALID", c.auth.importLoginToken{ token = tok.token })
    other:close()
    c:close()
  end)

  it("asks for the password when a password account accepted the token", function()
    local other = helpers.client(T.dc)
    assert(other:login{ phone = "9996622005", code = "22222", password = "testpass" })
    local c = helpers.client(T.dc)
    local tok = assert(c:qr_login())
    assert(other.auth.acceptLoginToken{ token = tok.token })
    fails(401, "SESSION_PASSWORD_NEEDED", c:wait_login(5))
    local st = c:login_state()
    assert.equal("wait_password", st.state)
    assert.equal("testpass", st.hint)
    fails(400, "PASSWORD_HASH_INVALID", c:check_password("wrong"))
    local auth = assert(c:check_password("testpass"))
    assert.equal("9996622005", auth.user.phone)
    assert.equal("ready", c:login_state().state)
    other:close()
    c:close()
  end)

  it("passes except_ids and refuses bots", function()
    local c = helpers.client(T.dc)
    local tok = assert(c:qr_login{ 1, 2, 3 })
    assert.equal("auth.loginToken", tok._)
    c:close()
    local bot = helpers.client(T.dc)
    assert(bot:bot_sign_in("123:abc"))
    fails(400, "BOT_METHOD_INVALID", bot:qr_login())
    bot:close()
  end)
end)

describe("QR token expiry", function()
  local T = helpers.use_testdc{ dcs = 1, resend_timeout = 0, flood = false, qr_lifetime = 1 }

  it("AUTH_TOKEN_EXPIRED for an old token; wait_login exports a new one", function()
    local other = signed_in(T.dc, "9996611003", 1)
    local c = helpers.client(T.dc, { dc = 1 })
    local tok = assert(c:qr_login())
    local url = c:login_state().url
    core.conn.sleep(1.1)
    fails(400, "AUTH_TOKEN_EXPIRED", other.auth.acceptLoginToken{ token = tok.token })
    fails(-16, "TIMEOUT", c:wait_login(0.3))
    local st = c:login_state()
    assert.equal("wait_other_device", st.state)
    assert.are_not.equal(url, st.url)
    assert.is_true(st.expires >= tok.expires + 1)
    local b64 = st.url:match("token=(.*)$")
    assert(other.auth.acceptLoginToken{ token = b64url_decode(b64) })
    assert(c:wait_login(5))
    assert.equal("ready", c:login_state().state)
    other:close()
    c:close()
  end)
end)

describe("QR auto-accept", function()
  local T = helpers.use_testdc{ dcs = 2, resend_timeout = 0, flood = false, qr_auto_accept = "9996611004" }

  it("login{ qr = } signs in with the switch's account, across DCs", function()
    local c = helpers.client(T.dc, { dc = 2 })
    local urls, states = {}, {}
    local user = assert(c:login{
      qr = function(url, expires)
        assert.is_number(expires)
        urls[#urls + 1] = url
      end,
      on_state = function(st) states[#states + 1] = st.state end,
    })
    assert.equal(9996611004 % 1000000000000 + 1, user.id)
    assert.equal(1, #urls)
    assert.same({ "wait_phone_number", "wait_other_device", "ready" }, states)
    assert.equal(1, c:session_info().home_dc)
    c:close()
  end)
end)
