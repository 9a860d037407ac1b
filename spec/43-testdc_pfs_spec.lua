-- The test DC's temporary keys (core.telegram.org/api/pfs) over real loopback TCP: temporary
-- keys made with p_q_inner_data_temp_dc, auth.bindTempAuthKey checked on the server side,
-- the three methods an unbound key may call, the account of a bound key, expiry (-404).
local helpers = require("helpers")
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local call = helpers.call

local function assert_error(code, message, r, err)
  assert.is_nil(r)
  assert.is_table(err)
  assert.same({ code, message }, { err.code, err.message })
end

local function send_code(conn, phone)
  return call(conn, { _ = "auth.sendCode", phone_number = phone, api_id = helpers.API_ID,
    api_hash = helpers.API_HASH, settings = { _ = "codeSettings" } })
end

-- A permanent key of DC 1 (made by a handshake on a connection of its own).
local function perm_key(T)
  local c = helpers.conn(T.dc, 1)
  local key = c:state().auth_key
  c:close()
  return key
end

local function server_now(conn)
  return math.floor(core.conn.now()) + conn:state().time_offset
end

local function bind(conn, perm, over)
  over = over or {}
  local id = conn:send_bind(perm, over.nonce or 0x1234567, over.expires_at or server_now(conn) + 86400)
  assert(conn:flush())
  local bytes, err = conn:wait(id)
  if not bytes then return nil, err end
  return tl.decode(bytes)
end

describe("test DC temporary keys", function()
  local T = helpers.use_testdc{ dcs = 1 }

  it("serves only the bind, help.getConfig and help.getNearestDc over an unbound temporary key", function()
    local c = helpers.conn(T.dc, 1, { expires_in = 86400 })
    assert.equal("config", call(c, { _ = "help.getConfig" })._)
    assert.equal("nearestDc", call(c, { _ = "help.getNearestDc" })._)
    assert_error(401, "AUTH_KEY_PERM_EMPTY", send_code(c, "9996611234"))
    assert_error(401, "AUTH_KEY_PERM_EMPTY", call(c, { _ = "updates.getState" }))
    c:close()
  end)

  it("binds a temporary key to a permanent one; calls then act for the permanent key's account", function()
    local perm = perm_key(T)
    local c = helpers.conn(T.dc, 1, { expires_in = 86400 })
    assert.is_true(bind(c, perm))
    local sent = send_code(c, "9996611234")
    assert.equal("auth.sentCode", sent._)
    assert.equal("auth.authorization", call(c, { _ = "auth.signIn", phone_number = "9996611234",
      phone_code_hash = sent.phone_code_hash, phone_code = "11111" })._)
    c:close()
    -- a second temporary key bound to the same permanent key is signed in too
    local c2 = helpers.conn(T.dc, 1, { expires_in = 86400 })
    assert_error(401, "AUTH_KEY_PERM_EMPTY", call(c2, { _ = "updates.getState" }))
    assert.is_true(bind(c2, perm))
    assert.equal("updates.state", call(c2, { _ = "updates.getState" })._)
    c2:close()
    -- the permanent key itself is the same account
    local p = helpers.conn(T.dc, 1, { auth_key = perm })
    assert.equal("updates.state", call(p, { _ = "updates.getState" })._)
    p:close()
  end)

  it("answers ENCRYPTED_MESSAGE_INVALID to a bad binding message", function()
    local perm = perm_key(T)
    local c = helpers.conn(T.dc, 1, { expires_in = 86400 })
    -- a key the server does not know
    assert_error(400, "ENCRYPTED_MESSAGE_INVALID", bind(c, core.crypto.random(256)))
    -- expires_at in the past
    assert_error(400, "ENCRYPTED_MESSAGE_INVALID", bind(c, perm, { expires_at = server_now(c) - 10 }))
    -- a binding message built for another msg_id and session (sent as a plain request, it goes
    -- out under a msg_id of its own)
    local st = c:state()
    local body = core.auth.bind_request(perm, { nonce = 1, temp_auth_key_id = st.auth_key_id,
      temp_session_id = st.session_id or 0, expires_at = server_now(c) + 3600, msg_id = 4 })
    assert_error(400, "ENCRYPTED_MESSAGE_INVALID", call(c, tl.decode(body)))
    -- still unbound
    assert_error(401, "AUTH_KEY_PERM_EMPTY", call(c, { _ = "updates.getState" }))
    assert.is_true(bind(c, perm))
    c:close()
  end)

  it("refuses auth.bindTempAuthKey over a permanent key", function()
    local perm = perm_key(T)
    local p = helpers.conn(T.dc, 1, { auth_key = perm })
    assert_error(400, "TEMP_AUTH_KEY_EMPTY", bind(p, perm))
    p:close()
  end)
end)

describe("test DC temporary keys with --temp-key-ttl", function()
  local T = helpers.use_testdc{ dcs = 1, temp_key_ttl = 1 }

  it("forgets an expired temporary key: -404, and the driver does not make a new key by itself", function()
    local perm = perm_key(T)
    local c = helpers.conn(T.dc, 1, { expires_in = 86400 })
    assert.is_true(bind(c, perm))
    assert.equal("nearestDc", call(c, { _ = "help.getNearestDc" })._)
    core.conn.sleep(1.3)
    local r, err = call(c, { _ = "help.getNearestDc" })
    assert.is_nil(r)
    assert.equal("TRANSPORT_ERROR_404", err.message)
    c:close()
  end)
end)
