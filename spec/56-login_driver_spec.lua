-- client:login{...}: the whole state machine driven by values or callbacks.
local helpers = require("helpers")

describe("client:login{}", function()
  local T = helpers.use_testdc{ dcs = 2, resend_timeout = 0, flood = false }

  it("walks the email setup with values", function()
    local c = helpers.client(T.dc)
    local states = {}
    local user = assert(c:login{ phone = "9996624001", email = "ann@example.com", email_code = "22222",
      on_state = function(st) states[#states + 1] = st.state end })
    assert.equal("9996624001", user.phone)
    assert.same({ "wait_phone_number", "wait_email_address", "wait_email_code", "wait_email_code", "ready" }, states)
    c:close()
  end)

  it("asks a callback again after a wrong code, with the error in the state", function()
    local c = helpers.client(T.dc)
    local asked = {}
    local user = assert(c:login{
      phone = function(st) assert.equal("wait_phone_number", st.state); return "9996623002" end,
      code = function(st)
        asked[#asked + 1] = st.error and st.error.message or "first"
        return #asked == 1 and "00000" or "22222"
      end,
      first_name = function(st)
        assert.equal("help.termsOfService", st.terms_of_service._)
        return "Bea"
      end,
      last_name = "Cole",
    })
    assert.same({ "first", "PHONE_CODE_INVALID" }, asked)
    assert.equal("Bea", user.first_name)
    c:close()
  end)

  it("asks for the password of a password account again after PASSWORD_HASH_INVALID", function()
    local c = helpers.client(T.dc)
    local asked = {}
    local user = assert(c:login{ phone = "9996622011", code = "22222", password = function(st)
      assert.equal("wait_password", st.state)
      assert.is_true(st.has_recovery)
      assert.equal("testpass", st.hint)
      asked[#asked + 1] = st.error.message
      return #asked == 1 and "wrong" or "testpass"
    end })
    assert.same({ "SESSION_PASSWORD_NEEDED", "PASSWORD_HASH_INVALID" }, asked)
    assert.equal("9996622011", user.phone)
    c:close()
  end)

  it("ends with the server's error for a wrong constant value", function()
    local c = helpers.client(T.dc)
    local user, err = c:login{ phone = "9996621003", code = "00000" }
    assert.is_nil(user)
    assert.equal("PHONE_CODE_INVALID", err.message)
    assert.equal("wait_code", c:login_state().state)
    c:close()
  end)

  it("ends with LOGIN_ABORTED when a callback returns nil, and LOGIN_INPUT_MISSING without a value", function()
    local c = helpers.client(T.dc)
    local user, err = c:login{ phone = "9996621004", code = function() return nil end }
    assert.is_nil(user)
    assert.equal("LOGIN_ABORTED", err.message)
    assert.truthy(tostring(err):find("the code callback returned nil in state wait_code", 1, true))
    assert.equal("wait_code", c:login_state().state) -- resumable
    user, err = c:login{ code = "22222" }
    assert.is_table(user, tostring(err))
    c:close()
    c = helpers.client(T.dc)
    user, err = c:login{}
    assert.is_nil(user)
    assert.equal("LOGIN_INPUT_MISSING", err.message)
    assert.has_error(function() c:login{ phone = 1 } end,
      "bad argument #1 to 'login' (phone: expected a string or a function(state))")
    c:close()
  end)

  it("survives callbacks that raise, call the client, or close it", function()
    local c = helpers.client(T.dc)
    local ok, msg = pcall(c.login, c, { phone = "9996621005", code = function() error("no code today") end })
    assert.is_false(ok)
    assert.truthy(tostring(msg):find("no code today", 1, true))
    assert.equal("wait_code", c:login_state().state)
    local user = assert(c:login{ code = function()
      assert(c.help.getNearestDc{})       -- calling the client from the callback
      return "22222"
    end })
    assert.equal("9996621005", user.phone)
    c:close()
    c = helpers.client(T.dc)
    local err
    user, err = c:login{ phone = "9996621006", code = function() c:close(); return "22222" end }
    assert.is_nil(user)
    assert.equal("CLIENT_CLOSED", err.message)
  end)
end)
