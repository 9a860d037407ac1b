-- The login helper (send_code / resend_code / sign_in) and FLOOD_WAIT handling,
-- against the local test DC.
local mtproto = require("mtproto")
local testdc = require("mtproto.testdc")
local session_file = require("mtproto.session_file")
local core = require("mtproto.core")

local API_ID, API_HASH = 12345, "0123456789abcdef0123456789abcdef"

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local function client_for(dc, extra)
  local o = { api_id = API_ID, api_hash = API_HASH, dc_options = dc:options(), rsa_keys = { dc.pem }, timeout = 5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(mtproto.client(o))
end

describe("login helper", function()
  local dc

  lazy_setup(function() dc = assert(testdc.start{ dcs = 3, resend_timeout = 0, flood = false }) end)
  lazy_teardown(function() if dc then dc:stop() end end)

  it("walks every way of sending the code, then refuses locally", function()
    local client = client_for(dc)
    local sent = assert(client:send_code("9996621234"))
    assert.equal("auth.sentCode", sent._)
    local seen = { sent.type._ }
    local login = client:session_info().login
    assert.equal("9996621234", login.phone)
    assert.equal(sent.phone_code_hash, login.phone_code_hash)
    assert.equal(2, login.dc)
    assert.equal(sent.next_type._, login.next_type._)
    local last = sent
    for _ = 1, 10 do
      if not last.next_type then break end
      last = assert(client:resend_code())
      seen[#seen + 1] = last.type._
    end
    assert.same({ "auth.sentCodeTypeApp", "auth.sentCodeTypeSms", "auth.sentCodeTypeCall",
      "auth.sentCodeTypeFlashCall" }, seen)
    assert.is_nil(last.next_type)
    -- no next_type: refused before anything is sent
    local r, err = client:resend_code()
    assert.is_nil(r)
    assert.equal(406, err.code)
    assert.equal("SEND_CODE_UNAVAILABLE", err.message)
    assert.is_true(err.is_local)
    assert.truthy(tostring(err):find("no more ways to send the code", 1, true))
    -- the server says the same, with the same offline description
    r, err = client.auth.resendCode{ phone_number = "9996621234", phone_code_hash = last.phone_code_hash }
    assert.is_nil(r)
    assert.equal(406, err.code)
    assert.equal("SEND_CODE_UNAVAILABLE", err.message)
    assert.is_nil(err.is_local)
    assert.truthy(tostring(err):find("^mtproto.Error 406 SEND_CODE_UNAVAILABLE %(auth.resendCode%): no more ways to send the code"))
    -- the code itself still works
    local auth = assert(client:sign_in("22222"))
    assert.equal("auth.authorization", auth._)
    assert.is_nil(client:session_info().login)
    assert.is_false(client:session_info().bot)
    client:close()
  end)

  it("refuses methods with no pending login", function()
    local client = client_for(dc)
    local r, err = client:resend_code()
    assert.is_nil(r)
    assert.equal("LOGIN_NOT_STARTED", err.message)
    assert.is_true(err.is_local)
    r, err = client:sign_in("22222")
    assert.is_nil(r)
    assert.equal("LOGIN_NOT_STARTED", err.message)
    assert.same({}, client:session_info().dcs) -- no round trip
    assert.has_error(function() client:sign_in(22222) end, "bad argument #1 to 'sign_in' (expected the code as a string)")
    assert.has_error(function() client:send_code(nil) end, "bad argument #1 to 'send_code' (expected a phone number string)")
    client:close()
  end)

  it("keeps the login on a wrong code and follows PHONE_MIGRATE", function()
    local client = client_for(dc)
    assert(client:send_code("9996631234")) -- a DC 3 number: migrates
    assert.equal(3, client:session_info().login.dc)
    assert.equal(3, client:session_info().home_dc)
    local r, err = client:sign_in("22222")
    assert.is_nil(r)
    assert.equal("PHONE_CODE_INVALID", err.message)
    assert.equal("final", err.kind)
    assert.is_table(client:session_info().login)
    local auth = assert(client:sign_in("33333"))
    assert.equal("auth.authorization", auth._)
    assert.is_number(client:session_info().user_id)
    client:close()
  end)

  it("resumes a pending login in another process", function()
    local path = tmpname()
    local a = client_for(dc, { session = path })
    local sent = assert(a:send_code("9996611234"))
    a:close()
    local d = assert(session_file.load(path))
    assert.equal(sent.phone_code_hash, d.login.phone_code_hash)
    assert.equal(d.dcs[1].key_id, d.login.key_id)
    local script = ([[
      local mtproto = require("mtproto")
      local c = assert(mtproto.client{ api_id = %d, api_hash = %q, session = %q, timeout = 5,
        dc_options = { [1] = { host = %q, port = %d } } })
      local again = assert(c:resend_code())
      local auth, err = c:sign_in("11111")
      print(again._, again.type._, auth and auth._ or tostring(err), c:session_info().login == nil)
      c:close()
    ]]):format(API_ID, API_HASH, path, dc.host, dc.ports[1])
    local file = tmpname() .. ".lua"
    local f = assert(io.open(file, "w"))
    f:write(script)
    f:close()
    local p = io.popen(require("helpers").LUA .. " '" .. file .. "' 2>&1")
    local out = p:read("a")
    p:close()
    os.remove(file)
    -- no rsa_keys in the child: only the saved key can work
    assert.equal("auth.sentCode\tauth.sentCodeTypeSms\tauth.authorization\ttrue\n", out)
    os.remove(path)
  end)

  it("refuses a pending login under another auth key", function()
    local path, other = tmpname(), tmpname()
    local a = client_for(dc, { session = path })
    assert(a:send_code("9996621234"))
    a:close()
    local b = client_for(dc, { session = other })
    assert(b.help.getNearestDc{})
    b:close()
    -- move the login into the session of another key
    local d = assert(session_file.load(path))
    local o = assert(session_file.load(other))
    o.login = d.login
    assert(session_file.save(other, o))
    local c = client_for(dc, { session = other })
    local r, err = c:sign_in("22222")
    assert.is_nil(r)
    assert.equal("LOGIN_KEY_MISMATCH", err.message)
    assert.is_true(err.is_local)
    assert.equal("restart_login", err.kind)
    assert.truthy(tostring(err):find("another auth key", 1, true))
    r, err = c:resend_code()
    assert.is_nil(r)
    assert.equal("LOGIN_KEY_MISMATCH", err.message)
    c:close()
    -- and with no key at all for that DC
    d.dcs = {}
    assert(session_file.save(path, d))
    c = client_for(dc, { session = path })
    r, err = c:resend_code()
    assert.is_nil(r)
    assert.equal("LOGIN_KEY_MISMATCH", err.message)
    assert.same({}, c:session_info().dcs) -- nothing was sent: no key was made
    c:close()
    os.remove(path); os.remove(other)
  end)

  it("drops the pending login when the server says the code expired", function()
    local path = tmpname()
    local a = client_for(dc, { session = path })
    assert(a:send_code("9996621234"))
    a:close()
    local d = assert(session_file.load(path))
    d.login.phone_code_hash = "0123456789abcdef"
    assert(session_file.save(path, d))
    local c = client_for(dc, { session = path })
    local r, err = c:resend_code()
    assert.is_nil(r)
    assert.equal("PHONE_CODE_EXPIRED", err.message)
    assert.equal("restart_login", err.kind)
    assert.is_nil(c:session_info().login)
    c:close()
    assert.is_nil(assert(session_file.load(path)).login)
    os.remove(path)
  end)
end)

describe("the server's timeout", function()
  it("is enforced on the monotonic clock before any resend", function()
    local dc = assert(testdc.start{ dcs = 1, resend_timeout = 30, flood = false })
    local path = tmpname()
    local client = client_for(dc, { dc = 1, session = path })
    local sent = assert(client:send_code("9996611234"))
    assert.equal(30, sent.timeout)
    local r, err = client:resend_code()
    assert.is_nil(r)
    assert.equal(420, err.code)
    assert.equal("RESEND_TOO_EARLY", err.type)
    assert.is_true(err.value >= 29 and err.value <= 30, tostring(err.value))
    assert.equal("retry", err.kind)
    assert.equal(err.value, err.retry_after)
    assert.is_true(err.is_local)
    assert.truthy(tostring(err):find("wait " .. err.value .. " more seconds", 1, true))
    client:close()
    -- the deadline is saved with the session
    local again = client_for(dc, { dc = 1, session = path })
    local w = again:session_info().login.wait
    assert.is_true(w > 28 and w <= 30, tostring(w))
    r, err = again:resend_code()
    assert.is_nil(r)
    assert.equal("RESEND_TOO_EARLY", err.type)
    again:close()
    dc:stop()
    os.remove(path)
  end)

  it("lets the resend through once the timeout has passed", function()
    local dc = assert(testdc.start{ dcs = 1, resend_timeout = 1, flood = false })
    local client = client_for(dc, { dc = 1 })
    assert(client:send_code("9996611234"))
    local _, err = client:resend_code()
    assert.equal("RESEND_TOO_EARLY", err.type)
    core.conn.sleep(1.05)
    local again = assert(client:resend_code())
    assert.equal("auth.sentCodeTypeSms", again.type._)
    client:close()
    dc:stop()
  end)
end)

describe("FLOOD_WAIT", function()
  local dc
  lazy_setup(function() dc = assert(testdc.start{ dcs = 1, resend_timeout = 0, flood = 1 }) end)
  lazy_teardown(function() if dc then dc:stop() end end)

  local function flood(client)
    local sent = assert(client:send_code("9996611234"))
    local hash = sent.phone_code_hash
    local first, err
    for _ = 1, 3 do
      first, err = client.auth.resendCode{ phone_number = "9996611234", phone_code_hash = hash }
      if not first then break end
      hash = first.phone_code_hash
    end
    return first, err, hash
  end

  it("returns the error when the wait is above flood_sleep_threshold", function()
    local client = client_for(dc, { dc = 1, flood_sleep_threshold = 0 })
    local r, err = flood(client)
    assert.is_nil(r)
    assert.equal(420, err.code)
    assert.equal("FLOOD_WAIT", err.type)
    assert.is_true(err.value >= 1)
    assert.equal(err.value, err.retry_after)
    assert.equal("retry", err.kind)
    client:close()
  end)

  it("sleeps and repeats when the wait is within flood_sleep_threshold", function()
    local lines = {}
    local client = client_for(dc, { dc = 1, flood_sleep_threshold = 10, log_level = "info",
      logger = function(_, m) lines[#lines + 1] = m end })
    local t0 = core.conn.monotonic()
    local r, err = flood(client)
    assert.is_nil(err)
    assert.equal("auth.sentCode", r._)
    local slept = table.concat(lines, "\n"):match("FLOOD_WAIT_(%d+), sleeping")
    assert.truthy(slept, table.concat(lines, "\n"))
    assert.is_true(core.conn.monotonic() - t0 >= tonumber(slept) - 0.01)
    client:close()
  end)
end)
