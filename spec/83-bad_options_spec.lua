-- Regression: bad options were accepted by mtproto.client{} and raised inside the first call
-- (timeout 0, NaN, inf, 1e7; connect_timeout 0 or NaN; host = ""), and a bad per-call timeout
-- raised only after the request was written (1000 raising invokes all reached the server).
-- Now mtproto.client{} raises at once, and a call's options are checked before anything is
-- queued or sent.
local helpers = require("helpers")
local mtproto = require("mtproto")

local NAN, INF = 0 / 0, math.huge

describe("bad options", function()
  local T = helpers.use_testdc{ dcs = 2, flood = false }

  local function new(extra)
    local o = T.dc:client_options{ api_id = helpers.API_ID, api_hash = helpers.API_HASH }
    for k, v in pairs(extra) do
      if k == "host" then o.dc_options[2].host = v else o[k] = v end
    end
    return mtproto.client(o)
  end

  it("are refused by mtproto.client{} with an error naming the option", function()
    local rows = {
      { "timeout", 0 }, { "timeout", NAN }, { "timeout", INF }, { "timeout", 1e7 }, { "timeout", -1 },
      { "timeout", "10" }, { "connect_timeout", 0 }, { "connect_timeout", NAN }, { "connect_timeout", -INF },
      { "flood_sleep_threshold", NAN }, { "flood_sleep_threshold", INF }, { "flood_sleep_threshold", -1 },
    }
    for _, row in ipairs(rows) do
      local ok, err = pcall(new, { [row[1]] = row[2] })
      assert.is_false(ok, row[1] .. " = " .. tostring(row[2]))
      assert.truthy(err:find("bad argument #1 to 'mtproto.client' (" .. row[1] .. ": expected a number of seconds", 1, true), err)
    end
    for _, host in ipairs { "", "127.0.0.1\0evil" } do
      local ok, err = pcall(new, { host = host })
      assert.is_false(ok)
      assert.truthy(err:find("dc_options: DC 2: expected a host name or address", 1, true), err)
    end
    local ok, err = pcall(new, { session = "s\0.session" })
    assert.is_false(ok)
    assert.truthy(err:find("(session: expected a file name)", 1, true), err)
    -- the limits themselves are fine
    for _, o in ipairs { { timeout = 86400 }, { timeout = 0.001 }, { connect_timeout = 86400 }, { flood_sleep_threshold = 0 } } do
      local c = assert(new(o))
      c:close()
    end
  end)

  it("of one call raise before anything is sent", function()
    local c = helpers.client(T.dc)
    local sent = assert(c:send_code("9996621234"))
    assert.equal("auth.sentCodeTypeApp", sent.type._)
    local resend = { _ = "auth.resendCode", phone_number = "9996621234", phone_code_hash = sent.phone_code_hash }
    local bad = {
      function() return c:invoke(resend, { timeout = -1 }) end,
      function() return c:invoke(resend, { timeout = NAN }) end,
      function() return c:invoke(resend, { timeout = 0 }) end,
      function() return c:invoke(resend, { timeout = 1e7 }) end,
      function() return c:invoke(resend, { dc = 0 }) end,
      function() return c:invoke(resend, 5) end,
      function() return c.auth.resendCode({ phone_number = "9996621234", phone_code_hash = sent.phone_code_hash }, { timeout = INF }) end,
      function() return c:send(resend, { timeout = "1" }) end,
      function() return c:invoke_all({ resend, resend }, { timeout = -INF }) end,
    }
    local results = {}
    for i = 1, 100 do results[i] = { pcall(bad[(i - 1) % #bad + 1]) } end
    -- a pending's wait checks its timeout before writing the queued request
    local p = c:send(resend)
    local ok, err = pcall(p.wait, p, NAN)
    -- only this one resendCode reached the server: the code moves from App to the next type
    local again = assert(p:wait())
    assert.equal("auth.sentCodeTypeSms", again.type._)
    assert.is_false(ok)
    assert.matches("^bad argument #1 to 'wait' %(expected a number of seconds > 0", err)
    for i, r in ipairs(results) do
      assert.is_false(r[1], i)
      assert.matches("^bad argument #2 to '[%w._]+' %(", r[2])
    end
    c:close()
  end)
end)
