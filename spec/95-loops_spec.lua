-- The client inside event loops: the same scenarios blocking, under cqueues and under luv
-- (login ladder, migration, FLOOD_WAIT, a dropped connection, a stalled server, a short wait
-- that leaves the call going, a cancel, two clients at once). In the loops a 10 ms timer
-- ticks beside the calls; the longest single step of the client's coroutines (from being
-- resumed to waiting again) must stay under 20 ms, so the client never holds the loop. The
-- timer's own lateness is measured and printed too, but the machine's load decides it.
local mtproto = require("mtproto")
local loops = require("mtproto.loop")
local helpers = require("helpers")
local testdc = require("mtproto.testdc")

local have_cq, cqueues = pcall(require, "cqueues")
local have_uv = pcall(require, "luv")

local dcs = {}
lazy_setup(function()
  dcs.main = assert(testdc.start{ dcs = 3, resend_timeout = 0, flood = 1 })
  dcs.drop = assert(testdc.start{ dcs = 1, faults = { drop_after = 1 } })
  dcs.stall = assert(testdc.start{ dcs = 1, faults = { stall_after = 1 } })
  dcs.slow = assert(testdc.start{ dcs = 1, faults = { delay_ms = 400 } })
end)
lazy_teardown(function() for _, dc in pairs(dcs) do dc:stop() end end)

-- The adapter of `mode` wrapped to measure the client's steps: per coroutine, the time from
-- coming back from a wait to the next wait.
local function measured(base, stats)
  local resumed = setmetatable({}, { __mode = "k" })
  return {
    now = base.now, cond = base.cond, running = base.running, forget = base.forget,
    wait = function(...)
      local co = coroutine.running()
      local t = base.now()
      if resumed[co] then stats.step = math.max(stats.step, t - resumed[co]) end
      base.wait(...)
      resumed[co] = base.now()
    end,
  }
end

-- Runs fn(loop_option, spawn, stats) under `mode` with a 10 ms timer beside it; returns its results
-- and the stats { ticks, late, step }. spawn(f) runs f concurrently and returns a function
-- that waits for f to end and returns its results.
local function run(mode, fn)
  local stats = { ticks = 0, late = 0, step = 0 }
  if mode == "blocking" then
    local spawn = function(f) local r = table.pack(f()); return function() return table.unpack(r, 1, r.n) end end
    return table.pack(fn(nil, spawn, stats)), stats
  end
  local base = loops.adapter(mode)
  local loop = measured(base, stats)
  local function spawn(f)
    local r
    local co = function() r = table.pack(pcall(f)) end
    if mode == "cqueues" then cqueues.running():wrap(co) else coroutine.wrap(co)() end
    return function()
      while not r do loop.wait(nil, nil, loop.now() + 0.01) end
      assert(r[1], r[2])
      return table.unpack(r, 2, r.n)
    end
  end
  local results, done
  local function main()
    results = table.pack(pcall(fn, loop, spawn, stats))
    done = true
  end
  helpers.run_ticking(mode, main, stats, function() return done end)
  assert(results[1], results[2])
  return table.pack(table.unpack(results, 2, results.n)), stats
end

local function client(dc, loop, extra)
  local o = { dc = 2, loop = loop, log_level = nil }
  for k, v in pairs(extra or {}) do o[k] = v end
  return helpers.client(dc, o)
end

local function show(r, e)
  if r == nil then return ("%d %s"):format(e.code, e.message) end
  return r._ == "pong" and "pong " .. r.ping_id or r._
end

local MODES = { "blocking", "cqueues", "luv" }
local HAVE = { blocking = true, cqueues = have_cq, luv = have_uv }

for _, mode in ipairs(MODES) do
  local test = HAVE[mode] and it or pending
  describe("the client, " .. mode, function()
    test("walks the login ladder (send_code, resend_code, sign_in) and migrates", function()
      local got, stats = run(mode, function(loop)
        local c = client(dcs.main, loop)
        local sent = assert(c:send_code("9996621234"))
        local again = assert(c:resend_code())
        local auth = assert(c:sign_in("22222"))
        local m = client(dcs.main, loop)
        local moved = assert(m:send_code("9996631234"))
        local home = m:session_info().home_dc
        c:close(); m:close()
        return sent.type._, again.type._, auth._, moved._, home
      end)
      assert.same({ "auth.sentCodeTypeApp", "auth.sentCodeTypeSms", "auth.authorization",
        "auth.sentCode", 3, n = 5 }, got)
      if mode ~= "blocking" then assert.is_true(stats.ticks > 0) end
    end)

    test("sleeps off a FLOOD_WAIT on the loop while the timer ticks", function()
      local t0 = require("mtproto.core").conn.monotonic()
      local got, stats = run(mode, function(loop)
        local c = client(dcs.main, loop, { dc = 1, flood_sleep_threshold = 10 })
        local sent = assert(c:send_code("9996611234"))
        local hash, r, err = sent.phone_code_hash, nil, nil
        for _ = 1, 3 do
          r, err = c.auth.resendCode{ phone_number = "9996611234", phone_code_hash = hash }
          if not r then break end
          hash = r.phone_code_hash
        end
        c:close()
        return show(r, err)
      end)
      local elapsed = require("mtproto.core").conn.monotonic() - t0
      assert.same({ "auth.sentCode", n = 1 }, got)
      assert.is_true(elapsed >= 1, "slept " .. elapsed)   -- FLOOD_WAIT_1 was waited out
      if mode ~= "blocking" then
        -- the timer went on through the second of FLOOD_WAIT: ~100 ticks, never 0
        assert.is_true(stats.ticks >= 30, "ticks " .. stats.ticks)
      end
    end)

    test("re-sends over a new connection after a drop, and gives up a stalled call", function()
      local got, stats = run(mode, function(loop)
        -- (pfs off: the faults count the bind as a session's first request)
        local d = client(dcs.drop, loop, { dc = 1, pfs = false })
        local a = show(d:invoke{ _ = "ping", ping_id = 1 })
        local conns = d:connection(1):state().connections
        d:close()
        local s = client(dcs.stall, loop, { dc = 1, timeout = 1, pfs = false })
        local b = show(s:invoke{ _ = "ping", ping_id = 2 })
        local c = show(s:invoke{ _ = "ping", ping_id = 3 })  -- stalls: TIMEOUT after 1 s
        local e = show(s:invoke{ _ = "ping", ping_id = 4 })  -- a new connection answers
        s:close()
        return a, conns, b, c, e
      end)
      assert.same({ "pong 1", 2 }, { got[1], got[2] })
      -- the server stalls after its first request on a session: one call times out (which
      -- one depends on whether the handshake ran before the first call), the next is answered
      -- on a new connection
      assert.same({ "-16 TIMEOUT", "pong 4" }, { got[3] == "-16 TIMEOUT" and got[3] or got[4], got[5] })
      assert.is_true(got[3] == "pong 2" or got[4] == "pong 3")
      if mode ~= "blocking" then
        assert.is_true(stats.ticks >= 30, "ticks " .. stats.ticks)
      end
    end)

    test("p:wait(t) that runs out leaves the call going; p:cancel() gives it up", function()
      local got = run(mode, function(loop)
        local c = client(dcs.slow, loop, { dc = 1 })
        assert(c:invoke{ _ = "ping", ping_id = 0 })         -- connected, keyed
        local p = c:send{ _ = "ping", ping_id = 5 }
        local r1, e1 = p:wait(0.05)
        local r2 = p:wait()
        local q = c:send{ _ = "ping", ping_id = 6 }
        q:cancel()
        local r3, e3 = q:wait()
        local r4 = c:invoke{ _ = "ping", ping_id = 7 }      -- the connection goes on
        c:close()
        return show(r1, e1), show(r2), show(r3, e3), show(r4)
      end)
      assert.same({ "-16 TIMEOUT", "pong 5", "-16 CANCELLED", "pong 7", n = 4 }, got)
    end)

    if mode ~= "blocking" then test("closing the client while a call waits ends that call with CONNECTION_CLOSED", function()
      local got = run(mode, function(loop, spawn)
        local c = client(dcs.slow, loop, { dc = 1 })
        assert(c:invoke{ _ = "ping", ping_id = 0 })
        local w = spawn(function() return show(c:invoke{ _ = "ping", ping_id = 1 }) end)
        loop.wait(nil, nil, loop.now() + 0.1)                -- the call is waiting on the socket
        c:close()
        return w()
      end)
      assert.same({ "-17 CONNECTION_CLOSED", n = 1 }, got)
    end) end

    test("two clients wait at the same time" .. (mode == "blocking" and " (one after the other)" or ""), function()
      local core = require("mtproto.core")
      local elapsed
      local got, stats = run(mode, function(loop, spawn, stats)
        local a, b = client(dcs.slow, loop, { dc = 1 }), client(dcs.slow, loop, { dc = 1 })
        assert(a:invoke{ _ = "ping", ping_id = 0 }); assert(b:invoke{ _ = "ping", ping_id = 0 })
        local t0 = core.conn.monotonic()
        stats.step, stats.late = 0, 0    -- from here on: no handshake (its DH math is one step)
        local wa = spawn(function() return show(a:invoke{ _ = "ping", ping_id = 8 }) end)
        local wb = spawn(function() return show(b:invoke{ _ = "ping", ping_id = 9 }) end)
        local ra, rb = wa(), wb()
        elapsed = core.conn.monotonic() - t0
        a:close(); b:close()
        return ra, rb
      end)
      assert.same({ "pong 8", "pong 9", n = 2 }, got)
      if mode == "blocking" then
        assert.is_true(elapsed >= 0.8, "took " .. elapsed)    -- 2 x 400 ms, one after the other
      else
        assert.is_true(elapsed < 0.75, "took " .. elapsed)    -- both 400 ms waits overlap
        assert.is_true(stats.step < 0.02, ("a client step took %.1f ms"):format(stats.step * 1000))
        print(("\n%s: worst timer lateness %.1f ms, longest client step %.1f ms, %d ticks"):format(
          mode, stats.late * 1000, stats.step * 1000, stats.ticks))
      end
    end)
  end)
end

describe("loop option", function()
  it("accepts \"cqueues\", \"luv\" or an adapter table, and raises on anything else", function()
    assert.has_error(function() mtproto.client{ api_id = 1, loop = "tokio" } end,
      "bad argument #1 to 'mtproto.client' (loop: expected \"cqueues\", \"luv\" or a table with now, wait and cond functions)")
    assert.has_error(function() mtproto.client{ api_id = 1, loop = { now = os.clock } } end)
  end)

  local test = have_cq and it or pending
  test("runs the README's cqueues example as written (loop = \"cqueues\")", function()
    local cq = cqueues.new()
    local sent, err
    cq:wrap(function()
      local c = helpers.client(dcs.main, { dc = 2, loop = "cqueues" })
      sent, err = c.auth.sendCode{ phone_number = "9996627777", api_id = helpers.API_ID,
        api_hash = helpers.API_HASH, settings = {} }
      c:close()
    end)
    assert(cq:loop())
    assert.is_nil(err)
    assert.matches("^auth%.sentCode", sent._)
  end)
end)
