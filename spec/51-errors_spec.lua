-- mtproto.Error, its classification and offline descriptions; mtproto.pretty.
local mtproto = require("mtproto")

describe("mtproto.Error", function()
  local Error = mtproto.Error

  it("splits the numeric suffix into type and value", function()
    local e = Error{ code = 420, message = "FLOOD_WAIT_30", method = "auth.sendCode" }
    assert.equal(420, e.code)
    assert.equal("FLOOD_WAIT_30", e.message)
    assert.equal("FLOOD_WAIT", e.type)
    assert.equal(30, e.value)
    assert.equal("retry", e.kind)
    assert.equal(30, e.retry_after)
    assert.equal("auth.sendCode", e.method)
    assert.is_true(e:is("FLOOD_WAIT"))
    assert.is_true(e:is("FLOOD_WAIT_30"))
    assert.is_false(e:is("PHONE_MIGRATE"))
  end)

  it("gives the one-line summary of the issue", function()
    local e = Error{ code = 400, message = "PHONE_CODE_EXPIRED", method = "auth.resendCode" }
    local s = tostring(e)
    local head = "mtproto.Error 400 PHONE_CODE_EXPIRED (auth.resendCode): the code has expired"
    assert.equal(head, s:sub(1, #head))
    assert.is_nil(s:find("\n"))
    assert.is_nil(e.value)
    assert.equal("PHONE_CODE_EXPIRED", e.type)
    assert.equal("restart_login", e.kind)
  end)

  it("knows every error of TELEGRAM.md offline", function()
    local rows = {
      { 400, "PHONE_CODE_EXPIRED", "restart_login", "expired" },
      { 400, "PHONE_CODE_HASH_EMPTY", "restart_login", "phone_code_hash is missing" },
      { 400, "PHONE_NUMBER_INVALID", "final", "phone number is invalid" },
      { 406, "SEND_CODE_UNAVAILABLE", "restart_login", "no more ways to send the code" },
      { 420, "FLOOD_WAIT_7", "retry", "wait" },
      { 303, "PHONE_MIGRATE_3", "migrate", "another DC" },
      { 303, "NETWORK_MIGRATE_1", "migrate", "another DC" },
      { 303, "USER_MIGRATE_2", "migrate", "another DC" },
      { 401, "AUTH_KEY_UNREGISTERED", "final", "not signed in" },
      { 500, "AUTH_RESTART", "restart_login", "restarted" },
      { 400, "BOT_METHOD_INVALID", "final", "bots cannot" },
      { 400, "PHONE_CODE_INVALID", "final", "wrong" },
      { 401, "SESSION_PASSWORD_NEEDED", "final", "password" },
    }
    for _, r in ipairs(rows) do
      local e = Error{ code = r[1], message = r[2] }
      assert.equal(r[3], e.kind, r[2])
      assert.is_string(e.description, r[2])
      assert.truthy(e.description:find(r[4], 1, true), r[2] .. ": " .. e.description)
    end
    local m = Error{ code = 303, message = "PHONE_MIGRATE_3" }
    assert.equal(3, m.dc)
    assert.equal(3, m.value)
  end)

  it("wraps the driver's local failures as network errors", function()
    local e = mtproto.errors.from_conn({ code = -16, message = "TIMEOUT", detail = "no answer in 10 s" }, "help.getConfig")
    assert.equal(-16, e.code)
    assert.equal("network", e.kind)
    assert.equal("help.getConfig", e.method)
    assert.equal("mtproto.Error -16 TIMEOUT (help.getConfig): no answer before the deadline; no answer in 10 s", tostring(e))
    local t = mtproto.errors.from_conn({ code = -13, message = "TRANSPORT_ERROR_404" })
    assert.equal("TRANSPORT_ERROR", t.type)
    assert.equal(404, t.value)
    assert.equal("network", t.kind)
  end)

  it("keeps unknown errors usable", function()
    local e = Error{ code = 400, message = "SOMETHING_NEW_12" }
    assert.equal("SOMETHING_NEW", e.type)
    assert.equal(12, e.value)
    assert.is_nil(e.description)
    assert.equal("final", e.kind)
    assert.equal("mtproto.Error 400 SOMETHING_NEW_12", tostring(e))
    assert.is_true(mtproto.errors.is(e))
    assert.is_false(mtproto.errors.is({ code = 1 }))
  end)
end)

describe("mtproto.pretty", function()
  local pretty = mtproto.pretty

  it("puts _ first and keeps small tables on one line", function()
    assert.equal('{ _ = "auth.codeTypeCall" }', pretty{ _ = "auth.codeTypeCall" })
    assert.equal('{ _ = "auth.sentCodeTypeSms", length = 5 }', pretty{ length = 5, _ = "auth.sentCodeTypeSms" })
  end)

  it("nests larger objects over several lines", function()
    local s = pretty{ _ = "auth.sentCode", type = { _ = "auth.sentCodeTypeSms", length = 5 },
      phone_code_hash = "9d5d6b5e3a1c2f4e80", next_type = { _ = "auth.codeTypeCall" }, timeout = 120 }
    assert.truthy(s:find('^{\n  _ = "auth.sentCode",\n'))
    assert.truthy(s:find('\n  type = { _ = "auth.sentCodeTypeSms", length = 5 }[,\n]'))
    assert.truthy(s:find('\n  phone_code_hash = "9d5d6b5e3a1c2f4e80"[,\n]'))
    assert.truthy(s:find('\n  timeout = 120[,\n]'))
    assert.truthy(s:find('\n}$'))
    -- the rendering is valid Lua for printable data: it reads back equal
    local back = load("return " .. s)()
    assert.same({ _ = "auth.sentCode", type = { _ = "auth.sentCodeTypeSms", length = 5 },
      phone_code_hash = "9d5d6b5e3a1c2f4e80", next_type = { _ = "auth.codeTypeCall" }, timeout = 120 }, back)
  end)

  it("shows bytes that are not text as hex, and sequences in order", function()
    assert.equal('{ key = <4 bytes 000102ff>, list = { 3, 1, 2 } }', pretty{ key = "\0\1\2\255", list = { 3, 1, 2 } })
    assert.equal('<4 bytes 0142...>', pretty("\1BCD", { max_bytes = 2 }))
    assert.equal('"héllo"', pretty("héllo"))
    assert.equal('<2 bytes c328>', pretty("\xc3\x28")) -- not UTF-8
    assert.equal("true", pretty(true))
    assert.equal("1.5", pretty(1.5))
  end)

  it("survives cycles and errors", function()
    local t = { _ = "x" }
    t.self = t
    assert.equal('{ _ = "x", self = <cycle> }', pretty(t))
    local e = mtproto.Error{ code = 400, message = "PHONE_NUMBER_INVALID" }
    assert.equal(tostring(e), pretty(e))
  end)
end)
