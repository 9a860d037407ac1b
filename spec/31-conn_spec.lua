-- core.conn: OS utilities and the blocking TCP driver against the local test DC.
local core = require("mtproto.core")
local conn = core.conn

describe("core.conn utilities", function()
  it("monotonic() advances across sleep()", function()
    local t0 = conn.monotonic()
    conn.sleep(0.02)
    local dt = conn.monotonic() - t0
    assert.is_true(dt >= 0.02, "slept " .. dt)
    assert.is_true(dt < 5)
  end)

  it("now() is the unix time as a float", function()
    local t = conn.now()
    assert.is_true(math.abs(t - os.time()) <= 2)
    assert.equal("float", math.type(t))
  end)

  it("takes only a connection as the methods' and tl.call's first argument (luaL_checkudata's error)", function()
    local c <close> = conn.new { host = "127.0.0.1", port = 9 }
    local tl = core.tl
    for _, v in ipairs { tl.registry, io.stdout, {}, "x", 1, false } do
      local want = "bad argument #1 to '?' (mtproto.conn expected, got " .. (type(v) == "userdata" and "" or type(v))
      for _, m in ipairs { "has_updates", "key_changes", "call", "state" } do -- called without a name: '?'
        local ok, err = pcall(c[m], v, "\0\0\0\0")
        assert.is_false(ok)
        assert.truthy(err:find(want, 1, true), err)
      end
      local ok, err = pcall(tl.call, v, "help.getNearestDc", {})
      assert.is_false(ok)
      assert.truthy(err:find(want, 1, true), err)
    end
    assert.is_false(c:has_updates())
  end)

  it("sleep() rejects negative or non-numeric input", function()
    assert.has_error(function() conn.sleep(-1) end)
    assert.has_error(function() conn.sleep("x") end)
  end)
end)

-- The driver over loopback TCP against the local test DC.
local testdc = require("mtproto.testdc")

local TRANSPORTS = { "abridged", "intermediate", "padded", "full", "obfuscated" }
local GET_NEAREST_DC = string.pack("<I4", 0x1fb33026)
local NEAREST_DC = 0x8e1a1775
local UPDATES_TOO_LONG = string.pack("<I4", 0xe317af7e)

-- nearestDc#8e1a1775 country:string this_dc:int nearest_dc:int
local function nearest(bytes)
  assert.is_string(bytes)
  local ctor, len = string.unpack("<I4B", bytes)
  assert.equal(NEAREST_DC, ctor)
  local pos = 6 + len
  pos = pos + (4 - (pos - 1) % 4) % 4
  return string.unpack("<i4", bytes, pos)
end

local KEYFILE = os.tmpname()
os.remove(KEYFILE)  -- the test DC writes its RSA key there once and reuses it

local function start(faults)
  local dc = assert(testdc.start { dcs = 2, faults = faults, key = KEYFILE })
  return dc
end

local function connect(dc, transport, extra)
  local o = { host = dc.host, port = dc.ports[1], dc_id = 1, transport = transport, rsa_keys = { dc.pem },
    timeout = 10, connect_timeout = 5, init = { api_id = 1, device_model = "spec" } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return core.conn.new(o)
end

describe("core.conn against the test DC", function()
  teardown(function() os.remove(KEYFILE) end)

  describe("without faults", function()
    local dc
    setup(function() dc = start() end)
    teardown(function() dc:stop() end)

    for _, tr in ipairs(TRANSPORTS) do
      it("calls over " .. tr .. ": handshake, answer, rpc_error, pipelining", function()
        local c <close> = connect(dc, tr)
        assert.is_true(c:connect())
        local st = c:state()
        assert.equal(256, #st.auth_key)
        assert.equal(1, nearest(c:call(GET_NEAREST_DC)))
        -- an unknown method is an rpc_error with the server's code and message
        local r, err = c:call(string.pack("<I4", 0x0badc0de))
        assert.is_nil(r)
        assert.same({ code = 400, message = "METHOD_INVALID", detail = "rpc_error 400 METHOD_INVALID" }, err)
        -- many requests in flight: send only queues, wait collects in any order
        local ids = {}
        for i = 1, 300 do ids[i] = c:send(GET_NEAREST_DC) end
        assert.is_true(c:flush())
        for i = 300, 1, -1 do assert.equal(1, nearest(assert(c:wait(ids[i])))) end
        assert.equal(0, c:state().pending)
        assert.equal(1, c:state().connections)
      end)
    end

    it("pipelines 5000 calls (containers resized if the server limits them)", function()
      local c <close> = connect(dc, "padded")
      local ids = {}
      for i = 1, 5000 do ids[i] = c:send(GET_NEAREST_DC) end
      assert.is_true(c:flush())
      for i = 1, 5000 do assert.equal(1, nearest(assert(c:wait(ids[i])))) end
      local st = c:state()
      assert.equal(0, st.pending)
      assert.equal(1, st.connections)
    end)

    it("reuses a saved key and salt without a new handshake", function()
      local c1 = connect(dc, "padded")
      assert.equal(1, nearest(c1:call(GET_NEAREST_DC)))
      local st = c1:state()
      c1:close()
      local c2 <close> = connect(dc, "intermediate", { auth_key = st.auth_key, salt = st.salt, time_offset = st.time_offset })
      assert.equal(1, nearest(c2:call(GET_NEAREST_DC)))
      assert.equal(st.auth_key_id, c2:state().auth_key_id)
      assert.equal(st.salt, c2:state().salt)
    end)

    it("makes a new key when the server does not know ours (-404) and re-sends", function()
      local logs = {}
      local c <close> = connect(dc, "abridged", { auth_key = string.rep("\7", 256),
        log = function(_, m) logs[#logs + 1] = m end })
      assert.equal(1, nearest(c:call(GET_NEAREST_DC)))
      assert.are_not.equal(string.rep("\7", 256), c:state().auth_key)
      assert.equal(2, c:state().connections)
      assert.matches("TRANSPORT_ERROR_404", table.concat(logs, "\n"))
    end)

    it("connects over IPv6 when the DC listens on ::1", function()
      if not dc.host6 or not dc.ports6[1] then pending("no IPv6 listener") return end
      local c <close> = connect(dc, "padded", { host = dc.host6, port = dc.ports6[1] })
      assert.equal(1, nearest(c:call(GET_NEAREST_DC)))
    end)

    it("uses the dc_id given: the second DC answers with its own id", function()
      local c <close> = connect(dc, "padded", { port = dc.ports[2], dc_id = 2 })
      assert.equal(2, nearest(c:call(GET_NEAREST_DC)))
    end)

    it("reports a refused connection as NETWORK_ERROR and misuse by raising", function()
      local c <close> = connect(dc, "padded", { port = dc.ports[2] + 1000 > 65535 and 1 or dc.ports[2] + 1000,
        connect_timeout = 2, timeout = 0.5 })
      local ok, err = c:connect()
      assert.is_nil(ok)
      assert.equal("NETWORK_ERROR", err.message)
      assert.equal(-15, err.code)
      assert.has_error(function() c:send("abc") end)
      assert.has_error(function() c:wait(12345) end)
      assert.has_error(function() core.conn.new { host = "127.0.0.1" } end)
      assert.has_error(function() core.conn.new { host = "127.0.0.1", port = 1, transport = "udp" } end)
      c:close()
      c:close()
      assert.has_error(function() c:send(GET_NEAREST_DC) end, "attempt to use a closed connection")
    end)
  end)

  local FAULTS = {
    { name = "bad_server_salt", faults = { bad_salt = true }, log = "bad_server_salt" },
    { name = "a clock skew of an hour", faults = { clock_offset = 3600 }, offset = 3600, log = "bad_msg_notification 16" },
    { name = "a clock an hour behind", faults = { clock_offset = -3600 }, offset = -3600, log = "bad_msg_notification 17" },
    { name = "new_session_created in a container", faults = { new_session = true }, log = "new_session_created" },
    { name = "gzip_packed answers", faults = { gzip = true } },
    { name = "an update pushed before the answer", faults = { update_first = true }, updates = true },
    { name = "a garbage packet before the answer", faults = { garbage = true }, dropped = true },
    { name = "the connection dropped mid-call", faults = { drop_after = 3 }, reconnect = true },
  }
  for _, f in ipairs(FAULTS) do
    describe("with " .. f.name, function()
      local dc
      setup(function() dc = start(f.faults) end)
      teardown(function() dc:stop() end)
      for _, tr in ipairs(TRANSPORTS) do
        it("answers every call exactly once over " .. tr, function()
          local logs = {}
          local extra = { log = function(_, m) logs[#logs + 1] = m end }
          if f.offset then
            -- a restored session whose clock is off: the handshake itself would set the offset
            local c0 <close> = connect(dc, tr)
            assert(c0:connect())
            local st0 = c0:state()
            assert.is_true(math.abs(st0.time_offset - f.offset) <= 2)
            extra.auth_key, extra.salt, extra.time_offset = st0.auth_key, st0.salt, 0
          end
          local c <close> = connect(dc, tr, extra)
          for round = 1, 3 do
            assert.equal(1, nearest(assert(c:call(GET_NEAREST_DC))), "round " .. round)
          end
          local ids = {}
          for i = 1, 20 do ids[i] = c:send(GET_NEAREST_DC) end
          for i = 1, 20 do assert.equal(1, nearest(assert(c:wait(ids[i])))) end
          local st = c:state()
          assert.equal(0, st.pending)
          if f.offset then assert.is_true(math.abs(st.time_offset - f.offset) <= 2, st.time_offset) end
          local ups = c:updates()
          if f.updates then
            assert.is_true(#ups >= 2)
            for _, u in ipairs(ups) do assert.equal(UPDATES_TOO_LONG, u) end
            assert.same({}, c:updates(), "the queue is emptied")
          else
            assert.same({}, ups)
          end
          if f.dropped then assert.is_true(st.dropped >= 1) end
          if f.log then assert.matches(f.log, table.concat(logs, "\n"), 1, true) end
          if f.reconnect then assert.equal(2, st.connections) else assert.equal(1, st.connections) end
        end)
      end
    end)
  end

  it("gives up a call at its timeout (answers delayed by the server)", function()
    local dc <close> = start { delay_ms = 1500 }
    local c <close> = connect(dc, "padded")
    local t0 = conn.monotonic()
    local r, err = c:call(GET_NEAREST_DC, 0.3)
    assert.is_nil(r)
    assert.equal("TIMEOUT", err.message)
    assert.equal(-16, err.code)
    assert.is_true(conn.monotonic() - t0 < 1.4, "the handshake counts against the call's timeout")
  end)
end)
