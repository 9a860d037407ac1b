-- An independent client against the local test DC: GramJS (npm `telegram`, pinned in
-- interop/package.json, installed by `make deps` / `npm ci`) logs in over every transport it has,
-- plus intermediate and padded intermediate through codecs of ours (interop/gramjs_common.js).
-- GramJS shares no code with us, so agreement checks the server and the crypto both sides share
-- against Telegram's protocol. The test DC's key is injected into GramJS's key table; the
-- server is not weakened.
local json = require("dkjson")
local testdc = require("mtproto.testdc")

local ROOT = os.getenv("MTPROTO_ROOT") or "."
local INTEROP = ROOT .. "/interop"

local TRANSPORTS = {
  "full", "abridged", "obfuscated", "intermediate", "padded",
  "obfuscated-intermediate", "obfuscated-padded",
}

-- What every run must show, step by step: the class of the answer, or the server's error.
local EXPECTED_STEPS = {
  { step = "help.getConfig", result = "Config" },
  { step = "help.getNearestDc", result = "NearestDc" },
  { step = "auth.sendCode", result = "auth.SentCode" },
  { step = "auth.resendCode -> Sms", result = "auth.SentCode" },
  { step = "auth.resendCode#3ef1a9bf -> Call", result = "auth.SentCode" },
  { step = "auth.resendCode -> FlashCall", result = "auth.SentCode" },
  { step = "auth.resendCode -> unavailable", error = { code = 406, message = "SEND_CODE_UNAVAILABLE" } },
  { step = "auth.resendCode empty hash", error = { code = 400, message = "PHONE_CODE_HASH_EMPTY" } },
  { step = "auth.resendCode unknown hash", error = { code = 400, message = "PHONE_CODE_EXPIRED" } },
  { step = "auth.resendCode bad number", error = { code = 400, message = "PHONE_NUMBER_INVALID" } },
  { step = "auth.sendCode bad number", error = { code = 400, message = "PHONE_NUMBER_INVALID" } },
  { step = "auth.sendCode other DC", error = { code = 303, message = "PHONE_MIGRATE_1" } },
  { step = "auth.sendCode (sign in)", result = "auth.SentCode" },
  { step = "auth.signIn wrong code", error = { code = 400, message = "PHONE_CODE_INVALID" } },
  { step = "auth.signIn", result = "auth.Authorization" },
  { step = "auth.sendCode migrated", result = "auth.SentCode" },
  { step = "auth.signIn migrated", result = "auth.Authorization" },
}

-- Server faults an independent client must ride through unchanged (each on its own test DC).
-- Not `gzip`: GramJS does not unwrap an rpc_error inside gzip_packed (it hands the RpcError
-- object back as a result), so only the success steps would agree.
local FAULTS = {
  { "bad_salt", { bad_salt = true } },
  { "new_session", { new_session = true } },
  { "update_first", { update_first = true } },
  { "clock_offset", { clock_offset = 120 } },
}

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function have_gramjs()
  local f = io.open(INTEROP .. "/node_modules/telegram/package.json")
  if f then f:close() end
  local p = io.popen("node --version 2>/dev/null")
  local v = p and p:read("l")
  if p then p:close() end
  return f ~= nil and v ~= nil and v:match("^v%d+")
end

-- At most this many node processes at once: each runs two handshakes in pure JS (about 0.1 s
-- of CPU each), and a crowded CPU only makes every run slower.
local PARALLEL = 4

-- Starts `node interop/<script> @args.json` without waiting; returns a function that waits for
-- it and returns (decoded JSON line or nil, raw output, exit status).
local function spawn_node(script, args)
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write(json.encode(args))
  f:close()
  -- `make test SANITIZE=1` preloads ASan into every child: node is not ours to check.
  local p = assert(io.popen(("env -u LD_PRELOAD -u ASAN_OPTIONS node %s @%s 2>&1"):format(sh_quote(INTEROP .. "/" .. script), sh_quote(path))))
  return function()
    local out = p:read("a")
    local _, _, status = p:close()
    os.remove(path)
    local line = out:match("(%b{})%s*$")
    return line and json.decode(line), out, status
  end
end

describe("GramJS (npm telegram) against mtproto-testdc", function()
  assert(have_gramjs(), "GramJS is not installed: run `make deps` (npm ci in interop/) with node >= 18 on PATH")

  local dc
  local fault_dcs = {}
  local runs = {}

  local function dc_args(d, extra)
    local a = { host = d.host, ports = {}, rsa_public_pem = d.pem, fingerprint = d.fingerprint, timeout_ms = 60000 }
    for i = 1, 3 do a.ports[tostring(i)] = d.ports[i] end
    for k, v in pairs(extra) do a[k] = v end
    return a
  end

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

    -- QR login (signInUserWithQrCode): accepted by a second GramJS client on the same DC, and
    -- by the test DC's --qr-auto-accept account of DC 1 while GramJS is on DC 2 (migration)
    queue[#queue + 1] = { "qr:accept", dc_args(dc, { scenario = "accept", dc = 2 }), "gramjs_qr.js" }
    fault_dcs.qr_auto = assert(testdc.start{ dcs = 3, qr_auto_accept = "9996611500" })
    queue[#queue + 1] = { "qr:auto", dc_args(fault_dcs.qr_auto, { scenario = "auto", dc = 2,
      auto_phone = "9996611500" }), "gramjs_qr.js" }

    local inflight = {}
    local function reap()
      local job = table.remove(inflight, 1)
      local res, out, status = job[2]()
      runs[job[1]] = { res = res, out = out, status = status }
    end
    for _, job in ipairs(queue) do
      if #inflight >= PARALLEL then reap() end
      inflight[#inflight + 1] = { job[1], spawn_node(job[3] or "gramjs_login.js", job[2]) }
    end
    while #inflight > 0 do reap() end
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
