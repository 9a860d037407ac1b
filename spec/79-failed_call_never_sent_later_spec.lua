-- A call whose caller got nil, err never reaches the server afterwards. Connect to a test DC,
-- stop it, make 10,000 auth.sendCode calls (each fails: the DC is down), start a DC on the
-- same port (a new process: it has none of the old auth keys, so the client's key gets a
-- -404), make one call: it is answered (a new key is made, the -404 never reaches the
-- caller) and that DC receives exactly one sendCode. Meanwhile the calls waiting stay
-- bounded (none: each failed call is forgotten) and so does the memory. Blocking, and
-- inside cqueues and luv. The failed calls used to wait out a reconnect pause of up to 3 s
-- each, and the first call after the outage paused 3 s after the -404 and failed.
local helpers = require("helpers")
local core = require("mtproto.core")

local have_cq = pcall(require, "cqueues")
local have_uv = pcall(require, "luv")

local N = 10000
local ASAN = (os.getenv("LD_PRELOAD") or ""):find("asan", 1, true) ~= nil
local OUTAGE_LIMIT = 120 -- seconds the failing calls may take in all (they take a few)

local function sendcode_requests(log)
  local n = 0
  for line in io.lines(log) do
    -- "dc1 conn2 in  msg_id=... seq=1 invokeWithLayer(auth.sendCode)": one line per message
    if line:find(" in +msg_id=") and line:find("auth%.sendCode") then n = n + 1 end
  end
  return n
end

local SEND_CODE = { phone_number = "9996610001", api_id = helpers.API_ID, api_hash = helpers.API_HASH,
  settings = { _ = "codeSettings" } }

local HAVE = { blocking = true, cqueues = have_cq, luv = have_uv }

describe("core.link (fake clock)", function()
  local tl = require("mtproto.tl")
  local PING = tl.encode{ _ = "ping", ping_id = 7 }
  it("fails the calls never sent when a connect attempt fails, keeps those sent", function()
    local link <close> = core.link.new{ dc_id = 2, transport = "intermediate", auth_key = string.rep("\7", 256),
      timeout = 30, connect_timeout = 5, init = { api_id = 1 } }
    local sent = link:send(PING, 0)
    link:connected(0)
    assert(#link:output(0) > 0)
    link:lost(0, "closed")
    local queued = link:send(PING, 0)                      -- while the link reconnects
    link:lost(0, "io", "connection refused")
    local r, e = link:take(queued)
    assert.is_nil(r, "a call never sent still waits after a failed connect")
    assert.equal("NETWORK_ERROR", e.message)
    assert.is_false(link:take(sent))                      -- may have been executed: re-sent later
    link:release(queued)
    link:tick(link:deadline())
    link:connected(link:deadline() or 0.1)
    local out = link:output(0.2)
    assert(#out > 0)
    assert.equal(1, link:info().pending)                  -- only the call sent before
  end)
end)

for _, mode in ipairs{ "blocking", "cqueues", "luv" } do
  local test = HAVE[mode] and it or pending
  test(mode .. ": 10,000 calls failed during an outage never reach the restarted DC", function()
    local dc = helpers.start_testdc{ dcs = 1 }
    local port = dc.ports[1]
    local log = os.tmpname()
    local dc2
    local ok, err = pcall(helpers.under_loop, mode, function(loop)
      local client = helpers.client(dc, { dc = 1, timeout = 5, connect_timeout = 2, loop = loop })
      assert(client.auth.sendCode(SEND_CODE))
      dc:stop()

      local rss0 = helpers.rss_kib()
      local t0 = core.conn.monotonic()
      local failed, most_pending = 0, 0
      for i = 1, N do
        local r, e = client.auth.sendCode(SEND_CODE)
        assert(r == nil, "call " .. i .. " was answered by a stopped DC")
        assert.equal("network", e.kind, tostring(e))
        failed = failed + 1
        if i % 500 == 0 then
          most_pending = math.max(most_pending, client:session_info().pending)
          assert(core.conn.monotonic() - t0 < OUTAGE_LIMIT, ("%d calls took over %d s"):format(i, OUTAGE_LIMIT))
        end
      end
      local took = core.conn.monotonic() - t0
      local grew = helpers.rss_kib() - rss0
      assert.equal(N, failed)
      assert.equal(0, client:session_info().pending)
      assert(most_pending == 0, "calls waiting during the outage: " .. most_pending)
      -- (not under ASan: its quarantine keeps freed memory resident by design)
      if not ASAN then
        assert(grew < 32 * 1024, ("RSS grew %d KiB over %d failed calls"):format(grew, N))
      end

      dc2 = helpers.start_testdc{ dcs = 1, port = port, verbose = 1, log = log }
      assert.equal(port, dc2.ports[1])
      local t1 = core.conn.monotonic()
      local r, e = client.auth.sendCode(SEND_CODE)
      local last = core.conn.monotonic() - t1
      assert(r, "the call after the outage failed: " .. tostring(e))
      assert.equal("auth.sentCode", r._)
      local key_changed = client:session_info().dcs[1].key_id
      client:close()
      print(("\n    %s: %d failed calls in %.2f s, RSS +%d KiB, the call after: %.3f s"):format(
        mode, N, took, grew, last))
      return key_changed
    end)
    if dc2 then dc2:stop() end
    dc:stop()
    local received = ok and sendcode_requests(log)
    os.remove(log)
    assert(ok, err)
    assert.equal(1, received)
  end)
end
