-- A second independent client against the local test DC: mtcute (npm @mtcute/node, pinned in
-- interop/package.json with the layer-223 TL maps of @mtcute/tl) walks the login-code ladder
-- over every transport it has (interop/mtcute_login.mjs). mtcute shares no code with us or with
-- GramJS, and leans on what Telegram tolerates: it put the test DC's seqno check (an odd-seqno
-- msgs_ack), its gzip_packed requests and updates.getState to the test. The test DC's key is
-- added to mtcute's key table; the server is not weakened.
local helpers = require("helpers")
local testdc = require("mtproto.testdc")

-- mtcute's packet codecs: intermediate and padded intermediate, also inside obfuscated2.
local TRANSPORTS = { "intermediate", "padded", "obfuscated-intermediate", "obfuscated-padded" }

local EXPECTED_STEPS = helpers.MTCUTE_LADDER_STEPS

-- The faults GramJS rides through, and gzip: answers gzip_packed (mtcute inflates them).
local FAULTS = helpers.concat(helpers.INTEROP_FAULTS, { { "gzip", { gzip = true } } })

describe("mtcute (npm @mtcute/node) against mtproto-testdc", function()
  local unavailable = helpers.interop_unavailable("@mtcute/node")
  if unavailable then
    it("is skipped", function() pending(unavailable) end)
    return
  end

  local dcs = {}
  local runs = {}

  -- Two node processes (loading mtcute costs more CPU than a walk): the transports and IPv6
  -- against one test DC, the faults against one test DC each.
  setup(function()
    dcs.main = assert(testdc.start{ dcs = 3 })
    local plain, faulty = {}, {}
    for _, tr in ipairs(TRANSPORTS) do
      plain[#plain + 1] = helpers.interop_args(dcs.main, { name = tr, transport = tr, dc = 2 })
    end
    -- once over IPv6 when the test DC listens on ::1
    if dcs.main.host6 and dcs.main.host6 ~= "" and dcs.main.ports6 and dcs.main.ports6[2] then
      local a = helpers.interop_args(dcs.main, { name = "ipv6", transport = "obfuscated-padded", dc = 2,
        host = dcs.main.host6 })
      for i = 1, 3 do a.ports[tostring(i)] = dcs.main.ports6[i] end
      plain[#plain + 1] = a
    end
    for _, f in ipairs(FAULTS) do
      local name, faults = f[1], f[2]
      dcs[name] = assert(testdc.start{ dcs = 3, faults = faults })
      faulty[#faulty + 1] = helpers.interop_args(dcs[name], { name = "fault:" .. name, transport = "padded", dc = 2 })
    end
    local procs = helpers.run_node_jobs({
      { "plain", "mtcute_login.mjs", { runs = plain, timeout_ms = 60000 } },
      { "faulty", "mtcute_login.mjs", { runs = faulty, timeout_ms = 60000 } },
    }, 2)
    -- one entry per walk: { res = its result, out = its process's output, status = the exit status }
    for _, proc in pairs(procs) do
      for _, res in ipairs(proc.res and proc.res.runs or {}) do
        runs[res.name] = { res = res, out = proc.out, status = proc.status }
      end
      proc.gzipped = proc.res and proc.res.gzipped_requests
      proc.res = nil
      runs[#runs + 1] = proc
    end
  end)

  teardown(function()
    for _, d in pairs(dcs) do d:stop() end
  end)

  local function steps_of(res)
    local steps = {}
    for i, st in ipairs(res.steps) do
      steps[i] = { step = st.step, result = st.result, error = st.error }
    end
    return steps
  end

  -- `name`'s walk, or an error with the output of the node processes that should have made it
  local function run_of(name)
    if runs[name] then return runs[name] end
    local outs = {}
    for _, proc in ipairs(runs) do outs[#outs + 1] = ("(exit %s)\n%s"):format(tostring(proc.status), proc.out) end
    error("no result for " .. name .. " from node:\n" .. table.concat(outs, "\n"), 2)
  end

  local function assert_run(run)
    assert.same({}, run.res.failures)
    assert.is_true(run.res.ok)
    assert.equal(0, run.status)
    assert.is_true(run.res.checks >= 60, "too few checks ran: " .. tostring(run.res.checks))
    assert.same(EXPECTED_STEPS, steps_of(run.res))
  end

  for _, tr in ipairs(TRANSPORTS) do
    it("walks the login-code ladder over " .. tr .. ": sendCode, every resendCode, every error, signIn, migration", function()
      local run = run_of(tr)
      assert_run(run)
      assert.equal(tr, run.res.transport)
      assert.matches("^%-?%d+$", run.res.auth_key_id)
      assert.matches("^%-?%d+$", run.res.migrated_auth_key_id)
      assert.not_equal(run.res.auth_key_id, run.res.migrated_auth_key_id)
    end)
  end

  for _, f in ipairs(FAULTS) do
    it("rides through the server fault " .. f[1] .. " (padded)", function()
      assert_run(run_of("fault:" .. f[1]))
    end)
  end

  it("walks the ladder over IPv6 (::1), obfuscated padded intermediate", function()
    if not (dcs.main.host6 and dcs.main.host6 ~= "" and dcs.main.ports6 and dcs.main.ports6[2]) then
      pending("the test DC does not listen on IPv6 here")
      return
    end
    assert_run(run_of("ipv6"))
  end)

  it("sent requests gzip_packed (deflate in zlib framing) and got them answered", function()
    -- each walk's migrated auth.sendCode carries logout tokens: large enough for mtcute to gzip
    for _, proc in ipairs(runs) do
      assert.is_true((proc.gzipped or 0) >= #TRANSPORTS, "gzipped requests: " .. tostring(proc.gzipped))
    end
  end)

  it("gives every connection its own auth key", function()
    local seen = {}
    for _, tr in ipairs(TRANSPORTS) do
      local id = run_of(tr).res.auth_key_id
      assert.is_string(id)
      assert.is_nil(seen[id], tr .. " reused the auth key of " .. tostring(seen[id]))
      seen[id] = tr
    end
  end)
end)
