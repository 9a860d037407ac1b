-- pfs as the test DC sees it, message by message (its -v log): a permanent key only ever does
-- its handshake (never a call), a temporary key carries the bind first and nothing else until
-- it is bound, then initConnection again (invokeWithLayer) before anything else; a PHONE_MIGRATE
-- makes and binds keys on the other DC too; the expiry is in server time (the server's clock an
-- hour ahead): saved so, and the key renewed by the server's clock, not the local one.
local helpers = require("helpers")
local testdc = require("mtproto.testdc")
local core = require("mtproto.core")

-- A test DC logging to a file; returns the DC and a function reading the log.
local function logged(opts)
  local path = os.tmpname()
  opts.verbose, opts.log = 1, path
  local dc = assert(testdc.start(opts))
  return dc, function() return helpers.slurp(path) end, function() dc:stop(); os.remove(path) end
end

-- The log by connection: { ["dc1 conn2"] = { lines... } } and the kind of each connection's
-- key ("temporary", "permanent") from its "new auth key" line.
local function by_conn(log)
  local conns, kinds = {}, {}
  for dc, conn, rest in log:gmatch("testdc: (dc%d+) (conn%d+) ([^\n]*)") do
    local k = dc .. " " .. conn
    conns[k] = conns[k] or {}
    table.insert(conns[k], rest)
    if rest:find("^new auth key") then kinds[k] = rest:find("temporary", 1, true) and "temporary" or "permanent" end
  end
  return conns, kinds
end

-- The API messages a connection received (not the handshake, not service messages).
local SERVICE = { msgs_ack = true, msg_container = true, ping = true, ping_delay_disconnect = true }
local HANDSHAKE = { req_pq_multi = true, req_DH_params = true, set_client_DH_params = true }
local function calls_in(lines)
  local out = {}
  for _, l in ipairs(lines) do
    local what = l:match("^in%s+msg_id=%d+ seq=%d+ (%S+)")
    local name = what and what:match("^[^(]+")
    if name and not SERVICE[name] and not HANDSHAKE[name] then out[#out + 1] = what end
  end
  return out
end

local BIND = "auth.bindTempAuthKey" -- as the test DC logs it (names from src/mt_ids.h)

describe("pfs on the wire", function()
  it("permanent keys carry no call; a temporary key carries the bind, then initConnection; a migration binds there too", function()
    local dc, read, stop = logged{ dcs = 2 }
    local c = helpers.client(dc, { dc = 1 })
    assert(c:send_code("9996621234"))          -- PHONE_MIGRATE_2: keys on DC 2 too
    assert.equal("auth.authorization", assert(c:sign_in("22222"))._)
    assert(c.updates.getState{})
    local info = c:session_info()
    c:close()
    local log = read()
    stop()
    local conns, kinds = by_conn(log)
    local temps, perms = 0, 0
    for k, lines in pairs(conns) do
      local calls = calls_in(lines)
      if kinds[k] == "permanent" then
        perms = perms + 1
        assert.same({}, calls, k .. " used a permanent key for calls")
      elseif kinds[k] == "temporary" then
        temps = temps + 1
        assert.equal(BIND, calls[1], k .. ": the first call over a temporary key is not the bind")
        assert.is_true(#calls >= 2, k .. ": nothing after the bind")
        assert.matches("^invokeWithLayer%(", calls[2], nil, k .. ": no initConnection after the bind")
      end
    end
    assert.equal(2, perms)
    assert.equal(2, temps)
    -- each DC's temporary key is bound to that DC's permanent key
    for d = 1, 2 do
      local t = info.dcs[d]
      assert.is_number(t.temp_key_id)
      assert.matches(("dc%d temporary key %016x bound to %016x"):format(d, t.temp_key_id, t.key_id), log, nil, true)
    end
    assert.equal(2, info.home_dc)
  end)

  it("keeps the expiry in server time and renews by the server's clock", function()
    local dc, read, stop = logged{ dcs = 1, faults = { clock_offset = 3600 } }
    local path = os.tmpname()
    os.remove(path)
    local c = helpers.client(dc, { dc = 1, session = path })
    assert(c.help.getNearestDc{})
    local t = c:session_info().dcs[1]
    c:close()
    local saved = assert(require("mtproto").session_file.load(path))
    local expires_at = saved.temp_keys[1].expires_at
    assert.equal(t.temp_expires_at, expires_at)
    local local_now = core.conn.now()
    assert.is_true(math.abs(expires_at - (local_now + 3600 + 86400)) <= 5,
      ("expires_at %d is not the server's clock (local %d) + a day"):format(expires_at, math.floor(local_now)))
    os.remove(path)
    -- a 3 s key: by the local clock it has an hour left; by the server's it is due after 2.7 s
    local c2 = helpers.client(dc, { dc = 1, pfs = { expires_in = 3 } })
    assert(c2.help.getNearestDc{})
    core.conn.sleep(2.8)
    assert(c2.help.getNearestDc{})
    c2:close()
    local log = read()
    stop()
    local bound = select(2, log:gsub("temporary key %x+ bound to", ""))
    assert.equal(3, bound) -- the first client's, the second's, and its renewal
    assert.is_nil(log:find("expired: -404", 1, true))
  end)
end)
