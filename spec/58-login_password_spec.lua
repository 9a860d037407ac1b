-- Two-step verification against the test DC with raw calls: its password accounts (99966X2YYY,
-- password "testpass", recovery code = the login code) verify M1 on the server side
-- (mt_srp_server_check), so a wrong SRP answer is refused there, not only in our client.
local mtproto = require("mtproto")
local helpers = require("helpers")
local srp = mtproto.srp
local DH_PRIME_HEAD = "\xc7\x1c\xae\xb9"

local PHONE, CODE, PASSWORD = "9996622000", "22222", "testpass"

local function client_of(T)
  return assert(mtproto.client{ api_id = helpers.API_ID, api_hash = helpers.API_HASH,
    dc_options = T.dc:options(), rsa_keys = { T.dc.pem }, timeout = 10 })
end

describe("test DC password accounts", function()
  local T = helpers.use_testdc{ dcs = 2 }
  local function client() return client_of(T) end

  -- sendCode + signIn with the right code: 401 SESSION_PASSWORD_NEEDED.
  local function to_password(c, phone, code)
    local sent = assert(c.auth.sendCode{ phone_number = phone, api_id = helpers.API_ID,
      api_hash = helpers.API_HASH, settings = {} })
    local r, err = c.auth.signIn{ phone_number = phone, phone_code_hash = sent.phone_code_hash, phone_code = code or CODE }
    assert.is_nil(r)
    assert.equal(401, err.code)
    assert.equal("SESSION_PASSWORD_NEEDED", err.message)
  end

  local function refused(code, message, r, err)
    assert.is_nil(r)
    assert.equal(message, err and err.message)
    assert.equal(code, err.code)
  end

  it("sign in with the password: getPassword, srp.check, checkPassword", function()
    local c = client()
    refused(401, "AUTH_KEY_UNREGISTERED", c.account.getPassword{})
    to_password(c, PHONE)
    local ap = assert(c.account.getPassword{})
    assert.equal("account.password", ap._)
    assert.is_true(ap.has_password)
    assert.is_true(ap.has_recovery)
    assert.equal("testpass", ap.hint)
    assert.equal("passwordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow", ap.current_algo._)
    assert.equal(3, ap.current_algo.g)
    assert.equal(DH_PRIME_HEAD, ap.current_algo.p:sub(1, 4))
    assert.equal(256, #ap.srp_B)
    assert.equal(40, #ap.current_algo.salt1)
    assert.equal(ap.current_algo.salt1:sub(1, 8), ap.new_algo.salt1)
    local auth = assert(c.auth.checkPassword{ password = assert(srp.check(PASSWORD, ap)) })
    assert.equal("auth.authorization", auth._)
    assert.equal(PHONE, auth.user.phone)
    -- signed in: the account's password is described, there is nothing to check any more
    local again = assert(c.account.getPassword{})
    assert.is_true(again.has_password)
    refused(401, "AUTH_KEY_UNREGISTERED", c.auth.checkPassword{ password = assert(srp.check(PASSWORD, again)) })
    c:close()
  end)

  it("a wrong password is PASSWORD_HASH_INVALID, a used or stale srp_id SRP_ID_INVALID", function()
    local c = client()
    to_password(c, "9996622001")
    local ap = assert(c.account.getPassword{})
    refused(400, "PASSWORD_HASH_INVALID", c.auth.checkPassword{ password = assert(srp.check("wrong", ap)) })
    -- the srp_id was spent by the failed check: the right password with it is refused too
    refused(400, "SRP_ID_INVALID", c.auth.checkPassword{ password = assert(srp.check(PASSWORD, ap)) })
    -- a newer getPassword makes the older srp_id stale
    local ap1 = assert(c.account.getPassword{})
    local ap2 = assert(c.account.getPassword{})
    assert.are_not.equal(ap1.srp_id, ap2.srp_id)
    assert.are_not.equal(ap1.srp_B, ap2.srp_B)
    refused(400, "SRP_ID_INVALID", c.auth.checkPassword{ password = assert(srp.check(PASSWORD, ap1)) })
    refused(400, "PASSWORD_HASH_INVALID", c.auth.checkPassword{ password = { _ = "inputCheckPasswordEmpty" } })
    -- a tampered M1 with a fresh srp_id
    local ap3 = assert(c.account.getPassword{})
    local check = assert(srp.check(PASSWORD, ap3))
    check.M1 = string.char(check.M1:byte(1) ~ 1) .. check.M1:sub(2)
    refused(400, "PASSWORD_HASH_INVALID", c.auth.checkPassword{ password = check })
    local ap4 = assert(c.account.getPassword{})
    local auth = assert(c.auth.checkPassword{ password = assert(srp.check(PASSWORD, ap4)) })
    assert.equal("9996622001", auth.user.phone)
    c:close()
  end)

  it("password recovery by email code, with and without a new password", function()
    local c = client()
    to_password(c, "9996622002")
    refused(400, "PASSWORD_RECOVERY_NA", c.auth.recoverPassword{ code = CODE })
    local rec = assert(c.auth.requestPasswordRecovery{})
    assert.same({ _ = "auth.passwordRecovery", email_pattern = "t***@example.com" }, rec)
    refused(400, "CODE_INVALID", c.auth.checkRecoveryPassword{ code = "12345" })
    assert.is_true(c.auth.checkRecoveryPassword{ code = CODE })
    refused(400, "CODE_INVALID", c.auth.recoverPassword{ code = "00000" })
    local ap = assert(c.account.getPassword{})
    local new_algo, hash = assert(srp.new_hash("new password", ap.new_algo))
    local bad_algo = {}
    for k, v in pairs(new_algo) do bad_algo[k] = v end
    bad_algo.salt1 = ("x"):rep(40)
    refused(400, "NEW_SALT_INVALID", c.auth.recoverPassword{ code = CODE, new_settings = {
      new_algo = bad_algo, new_password_hash = hash, hint = "" } })
    refused(400, "NEW_SETTINGS_INVALID", c.auth.recoverPassword{ code = CODE, new_settings = {
      new_algo = new_algo, new_password_hash = hash:sub(2), hint = "" } })
    local auth = assert(c.auth.recoverPassword{ code = CODE, new_settings = {
      new_algo = new_algo, new_password_hash = hash, hint = "" } })
    assert.equal("9996622002", auth.user.phone)
    c:close()
    local c2 = client()
    to_password(c2, "9996622003")
    assert(c2.auth.requestPasswordRecovery{})
    assert.equal("9996622003", assert(c2.auth.recoverPassword{ code = CODE }).user.phone)
    c2:close()
  end)

  it("a password account of DC 1 after PHONE_MIGRATE_1 (the home DC moves)", function()
    local c = client()
    to_password(c, "9996612000", "11111")
    assert.equal(1, c:session_info().home_dc)
    local auth = assert(c.auth.checkPassword{ password = assert(srp.check(PASSWORD, assert(c.account.getPassword{}))) })
    assert.equal("9996612000", auth.user.phone)
    c:close()
  end)

  it("a QR token accepted by a password account asks for the password too", function()
    local a, b = client(), client()
    local tok = assert(a.auth.exportLoginToken{ api_id = helpers.API_ID, api_hash = helpers.API_HASH, except_ids = {} })
    assert.equal("auth.loginToken", tok._)
    to_password(b, "9996622004")
    assert(b.auth.checkPassword{ password = assert(srp.check(PASSWORD, assert(b.account.getPassword{}))) })
    assert(b.auth.acceptLoginToken{ token = tok.token })
    refused(401, "SESSION_PASSWORD_NEEDED",
      a.auth.exportLoginToken{ api_id = helpers.API_ID, api_hash = helpers.API_HASH, except_ids = {} })
    local auth = assert(a.auth.checkPassword{ password = assert(srp.check(PASSWORD, assert(a.account.getPassword{}))) })
    assert.equal("9996622004", auth.user.phone)
    a:close()
    b:close()
  end)
end)

describe("the login helper on a password account", function()
  local T = helpers.use_testdc{ dcs = 2 }
  local function client() return client_of(T) end

  it("sign_in -> wait_password -> check_password (wrong, then right) -> ready", function()
    local c = client()
    assert(c:send_code("9996622100"))
    local r, err = c:sign_in(CODE)
    assert.is_nil(r)
    assert.equal("SESSION_PASSWORD_NEEDED", err.message)
    assert.same({ state = "wait_password", hint = "testpass", has_recovery = true }, c:login_state())
    r, err = c:check_password("wrong")
    assert.is_nil(r)
    assert.equal("PASSWORD_HASH_INVALID", err.message)
    assert.equal("wait_password", c:login_state().state)
    local auth = assert(c:check_password(PASSWORD))
    assert.equal("9996622100", auth.user.phone)
    assert.equal("ready", c:login_state().state)
    c:close()
  end)

  it("recover_password with a new password (srp.new_hash), and login{} with a password", function()
    local c = client()
    assert(c:send_code("9996622101"))
    assert.is_nil((c:sign_in(CODE)))
    assert.same({ _ = "auth.passwordRecovery", email_pattern = "t***@example.com" },
      assert(c:request_password_recovery()))
    local r, err = c:recover_password("00000", "new password")
    assert.is_nil(r)
    assert.equal("CODE_INVALID", err.message)
    assert.equal("9996622101", assert(c:recover_password(CODE, "new password")).user.phone)
    assert.equal("ready", c:login_state().state)
    c:close()
    local c2 = client()
    local user = assert(c2:login{ phone = "9996622102", code = CODE, password = PASSWORD })
    assert.equal("9996622102", user.phone)
    c2:close()
  end)
end)
