-- tl.call(conn, method, params [, timeout]): a blocking call in one C call (encode, send, wait,
-- decode), the path of a client's method functions on an open connection; against the test DC.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local mtproto = require("mtproto")
local testdc = require("mtproto.testdc")

local KEYFILE = os.tmpname()
os.remove(KEYFILE) -- the test DC writes its RSA key there once and reuses it

local function connect(dc, extra)
  local o = { host = dc.host, port = dc.ports[1], dc_id = 1, transport = "padded", rsa_keys = { dc.pem },
    timeout = 10, connect_timeout = 5, init = { api_id = 1, device_model = "spec" } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return assert(core.conn.new(o))
end

describe("tl.call", function()
  local dc
  setup(function() dc = assert(testdc.start{ dcs = 2, key = KEYFILE }) end)
  teardown(function() dc:stop(); os.remove(KEYFILE) end)

  it("answers what conn:call and tl.decode_result give", function()
    local c <close> = connect(dc)
    local r = assert(tl.call(c, "help.getNearestDc", {}))
    local bytes = assert(c:call(tl.encode{ _ = "help.getNearestDc" }))
    assert.same(assert(tl.decode_result("help.getNearestDc", bytes)), r)
    assert.equal("nearestDc", r._)
    assert.equal(1, r.this_dc)
    assert.equal(0, c:state().pending)
  end)

  it("raises tl.encode's error for a bad parameter, before anything is sent", function()
    local c <close> = connect(dc)
    assert(tl.call(c, "help.getNearestDc", {}))
    local bad = { phone_number = 5, api_id = 1, api_hash = "x", settings = {} }
    local ok, err = pcall(tl.call, c, "auth.sendCode", bad)
    assert.is_false(ok)
    bad._ = "auth.sendCode"
    local _, want = pcall(tl.encode, bad)
    assert.equal(want, err)
    assert.equal(0, c:state().pending)
    -- a name that is not a method, and a bad timeout
    assert.has_error(function() tl.call(c, "nearestDc", {}) end)
    assert.has_error(function() tl.call(c, "no.suchMethod", {}) end)
    assert.has_error(function() tl.call(c, "help.getNearestDc", {}, -1) end)
    assert.equal(1, assert(tl.call(c, "help.getNearestDc", {})).this_dc)
  end)

  it("returns a failed call's error and the request's bytes", function()
    local c <close> = connect(dc)
    local params = { phone_number = "9996621234", phone_code_hash = "0123" }
    local r, err, bytes, bad = tl.call(c, "auth.resendCode", params)
    assert.is_nil(r)
    assert.equal(303, err.code)
    assert.equal("PHONE_MIGRATE_2", err.message)
    params._ = "auth.resendCode"
    assert.equal(tl.encode(params), bytes)
    assert.is_nil(bad)
    assert.equal(0, c:state().pending)
  end)

  it("returns true in place of the bytes for an answer that does not decode", function()
    -- a registry where the method of help.getNearestDc's id answers a Bool
    local reg = core.tl.new()
    assert(reg.load_string("---functions---\nspec.nearestAsBool#1fb33026 = Bool;"))
    local c <close> = connect(dc)
    local r, err, bytes, bad = reg.call(c, "spec.nearestAsBool", {})
    assert.is_nil(r)
    assert.equal(-6, err.code)
    assert.truthy(err.detail:find("offset 0", 1, true), err.detail)
    assert.is_nil(bytes)
    assert.is_true(bad)
    assert.equal(0, c:state().pending)
  end)

  it("gives a call up when its time runs out: TIMEOUT and the bytes", function()
    local stalled = assert(testdc.start{ dcs = 1, key = KEYFILE, faults = { stall_after = 2 } })
    local c <close> = connect(stalled)
    assert(tl.call(c, "help.getNearestDc", {}))
    local t0 = core.conn.monotonic()
    local r, err, bytes = tl.call(c, "help.getNearestDc", {}, 0.3)
    assert.is_nil(r)
    assert.equal("TIMEOUT", err.message)
    assert.equal(tl.encode{ _ = "help.getNearestDc" }, bytes)
    assert.is_true(core.conn.monotonic() - t0 < 5)
    assert.equal(0, c:state().pending)
    stalled:stop()
  end)

  it("reports CLOSED, without bytes, when the logger closes the connection meanwhile", function()
    local c
    c = connect(dc, { log = function() if c then c:close() end end })
    local r, err, bytes = tl.call(c, "help.getNearestDc", {})
    assert.is_nil(r)
    assert.equal("CLOSED", err.message)
    assert.is_nil(bytes)
    assert.has_error(function() tl.call(c, "help.getNearestDc", {}) end, "attempt to use a closed connection")
  end)
end)

-- A client's method function on an open connection takes tl.call; what follows a failure
-- (migration, errors) is the same as client:invoke's.
describe("a method function on an open connection", function()
  local dc
  setup(function() dc = assert(testdc.start{ dcs = 3, key = KEYFILE, flood = false }) end)
  teardown(function() dc:stop(); os.remove(KEYFILE) end)

  local function client_for(extra)
    local o = dc:client_options{ api_id = 1, api_hash = "0123456789abcdef0123456789abcdef", dc = 2 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return assert(mtproto.client(o))
  end

  it("moves the home DC on PHONE_MIGRATE and repeats the call there", function()
    local client <close> = client_for()
    assert.equal(2, assert(client.help.getNearestDc{}).this_dc)
    assert.is_true(client:session_info().dcs[2].connected)
    local sent = assert(client.auth.sendCode{ phone_number = "9996631234", api_id = 1,
      api_hash = "0123456789abcdef0123456789abcdef", settings = {} })
    assert.equal("auth.sentCode", sent._)
    assert.equal(3, client:session_info().home_dc)
  end)

  it("fails as client:invoke does", function()
    local client <close> = client_for()
    assert(client.help.getNearestDc{})
    local params = { phone_number = "9996621234", phone_code_hash = "0123" }
    local r, err = client.auth.resendCode(params)
    assert.is_nil(r)
    params._ = "auth.resendCode"
    local r2, err2 = client:invoke(params)
    assert.is_nil(r2)
    for _, k in ipairs { "code", "message", "type", "kind", "method", "value" } do assert.equal(err2[k], err[k], k) end
    assert.equal("PHONE_CODE_EXPIRED", err.message)
    assert.equal("auth.resendCode", err.method)
  end)
end)
