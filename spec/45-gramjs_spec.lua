-- An independent client against the local test DC: GramJS (npm `telegram`, pinned in
-- interop/package.json, installed by `make deps` / `npm ci`) logs in over every transport it has,
-- plus intermediate and padded intermediate through codecs of ours (interop/gramjs_common.js).
-- GramJS shares no code with us, so agreement checks the server and the crypto both sides share
-- against Telegram's protocol. The test DC's key is injected into GramJS's key table; the
-- server is not weakened.
local helpers = require("helpers")
local testdc = require("mtproto.testdc")

local TRANSPORTS = {
  "full", "abridged", "obfuscated", "intermediate", "padded",
  "obfuscated-intermediate", "obfuscated-padded",
}

-- What every run must show, step by step: the class of the answer, or the server's error.
local EXPECTED_STEPS = helpers.concat({
  { step = "help.getConfig", result = "Config" },
  { step = "help.getNearestDc", result = "NearestDc" },
  { step = "auth.sendCode", result = "auth.SentCode" },
  { step = "auth.resendCode -> Sms", result = "auth.SentCode" },
  { step = "auth.resendCode#3ef1a9bf -> Call", result = "auth.SentCode" },
  { step = "auth.resendCode -> FlashCall", result = "auth.SentCode" },
}, helpers.INTEROP_LADDER_ERRORS, {
  { step = "auth.sendCode (sign in)", result = "auth.SentCode" },
  { step = "auth.signIn wrong code", error = { code = 400, message = "PHONE_CODE_INVALID" } },
  { step = "auth.signIn", result = "auth.Authorization" },
  { step = "auth.sendCode migrated", result = "auth.SentCode" },
  { step = "auth.signIn migrated", result = "auth.Authorization" },
})

-- Server faults an independent client must ride through unchanged (each on its own test DC).
-- Not `gzip`: GramJS does not unwrap an rpc_error inside gzip_packed (it hands the RpcError
-- object back as a result), so only the success steps would agree.
local FAULTS = helpers.INTEROP_FAULTS

-- At most this many node processes at once: each runs two handshakes in pure JS (about 0.1 s
-- of CPU each), and a crowded CPU only makes every run slower.
local PARALLEL = 4

describe("GramJS (npm telegram) against mtproto-testdc", function()
  local unavailable = helpers.interop_unavailable("telegram")
  if unavailable then
    it("is skipped", function() pending(unavailable) end)
    return
  end

  local dc
  local fault_dcs = {}
  local runs = {}
  local dc_args = helpers.interop_args

  setup(function()
    dc = assert(testdc.start{ dcs = 3 })
    local queue = {}
    for _, tr in ipairs(TRANSPORTS) do
      queue[#queue + 1] = { tr, dc_args(dc, { transport = tr, dc = 2 }) }
    end
    -- once over IPv6 when the test DC listens on ::1
    if dc.host6 and dc.host6 ~= "" and dc.ports6 and dc.ports6[2] then
      local a = dc_args(dc, { transport = "obfuscated-padded", dc = 2, host = dc.host6 })
      for i = 1, 3 do a.ports[tostring(i)] = dc.ports6[i] end
      queue[#queue + 1] = { "ipv6", a }
    end
    for _, f in ipairs(FAULTS) do
      local name, faults = f[1], f[2]
      fault_dcs[name] = assert(testdc.start{ dcs = 3, faults = faults })
      queue[#queue + 1] = { "fault:" .. name, dc_args(fault_dcs[name], { transport = "padded", dc = 2 }) }
    end
    -- one auth.resendCode per hash per second, so that the second of two calls is too fast
    fault_dcs.flood = assert(testdc.start{ dcs = 3, flood = 1 })
    queue[#queue + 1] = { "flood", dc_args(fault_dcs.flood, { transport = "abridged", dc = 2, scenario = "flood" }) }
    -- two-step verification with GramJS's own SRP against the server-side check
    queue[#queue + 1] = { "password", dc_args(dc, { transport = "padded", dc = 2, scenario = "password" }) }

    -- QR login (signInUserWithQrCode): accepted by a second GramJS client on the same DC, and
    -- by the test DC's --qr-auto-accept account of DC 1 while GramJS is on DC 2 (migration)
    queue[#queue + 1] = { "qr:accept", dc_args(dc, { scenario = "accept", dc = 2 }), "gramjs_qr.js" }
    fault_dcs.qr_auto = assert(testdc.start{ dcs = 3, qr_auto_accept = "9996611500" })
    queue[#queue + 1] = { "qr:auto", dc_args(fault_dcs.qr_auto, { scenario = "auto", dc = 2,
      auto_phone = "9996611500" }), "gramjs_qr.js" }

    local jobs = {}
    for i, job in ipairs(queue) do jobs[i] = { job[1], job[3] or "gramjs_login.js", job[2] } end
    runs = helpers.run_node_jobs(jobs, PARALLEL)
  end)

  teardown(function()
    if dc then dc:stop() end
    for _, d in pairs(fault_dcs) do d:stop() end
  end)

  local function steps_of(res)
    local steps = {}
    for i, st in ipairs(res.steps) do
      steps[i] = { step = st.step, result = st.result, error = st.error }
    end
    return steps
  end

  for _, tr in ipairs(TRANSPORTS) do
    it("logs in over " .. tr .. ": handshake, sendCode, every resendCode type, every error, signIn, migration", function()
      local run = runs[tr]
      assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
      local res = run.res
      assert.same({}, res.failures)
      assert.equal(tr, res.transport)
      assert.is_true(res.ok)
      assert.equal(0, run.status)
      assert.is_true(res.checks >= 60, "too few checks ran: " .. tostring(res.checks))
      assert.matches("^%-?%d+$", res.auth_key_id)
      assert.matches("^%-?%d+$", res.migrated_auth_key_id)
      assert.not_equal(res.auth_key_id, res.migrated_auth_key_id)
      assert.same(EXPECTED_STEPS, steps_of(res))
    end)
  end

  for _, f in ipairs(FAULTS) do
    local name = f[1]
    it("rides through the server fault " .. name .. " (padded)", function()
      local run = runs["fault:" .. name]
      assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
      assert.same({}, run.res.failures)
      assert.is_true(run.res.ok)
      assert.same(EXPECTED_STEPS, steps_of(run.res))
    end)
  end

  it("logs in over IPv6 (::1), obfuscated padded intermediate", function()
    local run = runs.ipv6
    if not run then
      pending("the test DC does not listen on IPv6 here")
      return
    end
    assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
    assert.same({}, run.res.failures)
    assert.is_true(run.res.ok)
    assert.same(EXPECTED_STEPS, steps_of(run.res))
  end)

  it("gets 420 FLOOD_WAIT_1 for a second auth.resendCode within the second (test DC --flood 1)", function()
    local run = runs.flood
    assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
    assert.same({}, run.res.failures)
    assert.same({
      { step = "help.getConfig", result = "Config" },
      { step = "auth.sendCode", result = "auth.SentCode" },
      { step = "auth.resendCode -> Sms", result = "auth.SentCode" },
      { step = "auth.resendCode too fast", error = { code = 420, message = "FLOOD_WAIT_1" } },
    }, steps_of(run.res))
  end)

  it("logs in with its QR login, the token accepted by another signed-in GramJS client", function()
    local run = runs["qr:accept"]
    assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
    assert.same({}, run.res.failures)
    assert.is_true(run.res.ok)
    assert.equal(run.res.expected_user_id, run.res.user_id)
    assert.equal(2, run.res.dc_after)
  end)

  it("logs in with its QR login across DCs (loginTokenMigrateTo, auth.importLoginToken)", function()
    local run = runs["qr:auto"]
    assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
    assert.same({}, run.res.failures)
    assert.is_true(run.res.ok)
    assert.equal("9996611501", run.res.user_id)
    assert.equal(1, run.res.dc_after)
  end)

  it("signs in to a password account with its own SRP (computeCheck, signInWithPassword)", function()
    local run = runs.password
    assert(run.res, "no JSON line from node (exit " .. tostring(run.status) .. "):\n" .. run.out)
    assert.same({}, run.res.failures)
    assert.same({
      { step = "help.getConfig", result = "Config" },
      { step = "auth.sendCode (password account)", result = "auth.SentCode" },
      { step = "auth.signIn (password account)", error = { code = 401, message = "SESSION_PASSWORD_NEEDED" } },
      { step = "account.getPassword", result = "account.Password" },
      { step = "auth.checkPassword wrong password", error = { code = 400, message = "PASSWORD_HASH_INVALID" } },
      { step = "auth.checkPassword used srp_id", error = { code = 400, message = "SRP_ID_INVALID" } },
      { step = "signInWithPassword", result = "User" },
    }, steps_of(run.res))
  end)

  it("gives every connection its own auth key", function()
    local seen = {}
    for _, tr in ipairs(TRANSPORTS) do
      local id = runs[tr].res and runs[tr].res.auth_key_id
      assert.is_string(id)
      assert.is_nil(seen[id], tr .. " reused the auth key of " .. tostring(seen[id]))
      seen[id] = tr
    end
  end)
end)
