-- mtproto.client with pfs (the default) against the test DC: the login ladder over a bound
-- temporary key, the key kept in the session file with its expiry (server time) and reused,
-- renewed before it expires, replaced after a -404, a refused binding, and pfs = false.
local mtproto = require("mtproto")
local helpers = require("helpers")
local core = require("mtproto.core")

local function tmpname()
  local p = os.tmpname()
  os.remove(p)
  return p
end

local logged_dc = helpers.logged_dc

local client_for = helpers.client

local TEMP = "new auth key %x+ %(inner dc %d+%), temporary"
local BOUND = "temporary key %x+ bound to"

describe("mtproto.client with pfs", function()
  it("walks the login ladder over a bound temporary key kept in the session file", function()
    local dc, count, stop = logged_dc{ dcs = 2, resend_timeout = 0 }
    local path = tmpname()
    local c = client_for(dc, { session = path })
    assert(c:send_code("9996621234"))
    assert(c:resend_code())
    assert.equal("auth.authorization", assert(c:sign_in("22222"))._)
    assert.equal(1, count(TEMP))
    assert.equal(1, count(BOUND))
    assert.equal(2, count("new auth key")) -- the permanent key, then the temporary one
    c:close()
    local saved = assert(mtproto.session_file.load(path))
    local t = saved.temp_keys[2]
    assert.equal(256, #t.auth_key)
    assert.are_not.equal(saved.dcs[2].auth_key, t.auth_key)
    assert.equal(core.crypto.auth_key_id(t.auth_key), t.key_id)
    local server_now = math.floor(core.conn.now()) + t.time_offset
    assert.is_true(math.abs(t.expires_at - (server_now + 86400)) <= 5)
    -- a second process reuses both keys: no handshake, no bind, still signed in
    local c2 = client_for(dc, { session = path })
    assert.equal("updates.state", assert(c2.updates.getState{})._)
    assert.equal(2, count("new auth key"))
    assert.equal(1, count(BOUND))
    c2:close()
    stop()
    os.remove(path)
  end)

  it("renews the temporary key before it expires, and after a -404", function()
    local dc, count, stop = logged_dc{ dcs = 1, temp_key_ttl = 2 }
    local c = client_for(dc, { dc = 1, pfs = { expires_in = 3 } })
    assert(c.help.getNearestDc{})
    assert.equal(1, count(BOUND))
    core.conn.sleep(2.8) -- within the last tenth of its life: replaced before the call
    assert(c.help.getNearestDc{})
    assert.equal(2, count(BOUND))
    assert.equal(0, count("expired: %-404"))
    c:close()
    -- the server forgets the key first (its own limit): -404, a new key, the call goes through
    local c3 = client_for(dc, { dc = 1 })
    assert(c3.help.getNearestDc{})
    local bound = count(BOUND)
    core.conn.sleep(2.2)
    assert(c3.help.getNearestDc{})
    assert.equal(1, count("expired: %-404"))
    assert.equal(bound + 1, count(BOUND))
    c3:close()
    stop()
  end)

  it("drops a temporary key whose binding is refused, and remakes a permanent key the server forgot", function()
    local dc, count, stop = logged_dc{ dcs = 1 }
    local path = tmpname()
    local c = client_for(dc, { dc = 1, session = path })
    assert(c.help.getNearestDc{})
    c:close()
    -- the saved keys: a permanent key the server never made, and no temporary key
    local d = assert(mtproto.session_file.load(path))
    d.dcs[1].auth_key = core.crypto.random(256)
    d.dcs[1].key_id = core.crypto.auth_key_id(d.dcs[1].auth_key)
    d.temp_keys = nil
    local f = assert(io.open(path, "wb"))
    f:write(mtproto.session_file.encode(d))
    f:close()
    local c2 = client_for(dc, { dc = 1, session = path })
    assert(c2.help.getNearestDc{})
    assert.equal(1, count("auth.bindTempAuthKey refused")) -- a key of unknown age: made again at once
    c2:close()
    local saved = assert(mtproto.session_file.load(path))
    assert.are_not.equal(d.dcs[1].auth_key, saved.dcs[1].auth_key)
    stop()
    os.remove(path)
  end)

  it("pfs = false calls over the permanent key", function()
    local dc, count, stop = logged_dc{ dcs = 1 }
    local c = client_for(dc, { dc = 1, pfs = false })
    assert(c.help.getNearestDc{})
    assert.equal(0, count(TEMP))
    assert.equal(1, count("new auth key"))
    c:close()
    assert.error_matches(function() client_for(dc, { pfs = { expires_in = 1 } }) end, "pfs: expected true, false")
    assert.error_matches(function() client_for(dc, { pfs = "yes" }) end, "pfs: expected true, false")
    stop()
  end)
end)
