-- What clients share (method tables, loop adapters, option defaults, the initConnection
-- parameters, the update state's empty lists) is read-only: each client keeps its own
-- namespaces, login record, update state and options, and one client's use or close never
-- shows in another's.
local helpers = require("helpers")
local updates = require("mtproto.updates")
local tl = require("mtproto.tl")

local API_ID, API_HASH = helpers.API_ID, helpers.API_HASH

local function send_code(client, phone)
  return client.auth.sendCode{ phone_number = phone, api_id = API_ID, api_hash = API_HASH, settings = {} }
end

describe("clients keep their own state", function()
  local dc
  lazy_setup(function() dc = helpers.start_testdc{ dcs = 1 } end)
  lazy_teardown(function() if dc then dc:stop() end end)

  it("namespaces and method functions belong to their client", function()
    local a = helpers.client(dc, { dc = 1 })
    local b <close> = helpers.client(dc, { dc = 1 })
    assert.are_not.equal(a.auth, b.auth)
    assert.are_not.equal(a.auth.sendCode, b.auth.sendCode)
    assert.equal(a.auth.sendCode, a.auth.sendCode) -- made once per client
    assert.equal("mtproto namespace auth", tostring(b.auth))
    assert.has_error(function() b.auth:sendCode{} end, "mtproto: auth.sendCode: call it with a dot: client.auth.sendCode{...}")
    assert.has_error(function() return b.auth.noSuchMethod end, "mtproto: unknown method auth.noSuchMethod")
    local f = a.auth.sendCode
    assert(send_code(a, "9996611001"))
    a:close()
    assert.has_error(function() f{ phone_number = "9996611002" } end, "mtproto: attempt to use a closed client")
    local sent = assert(send_code(b, "9996611002"))
    assert.equal("auth.sentCode", sent._)
    -- a namespace made after another client closed works for its own client
    assert.equal("config", assert(b.help.getConfig{})._)
  end)

  it("login records belong to their client, also when raw auth.* calls sign in", function()
    local a <close> = helpers.client(dc, { dc = 1 })
    local b <close> = helpers.client(dc, { dc = 1 })
    local c <close> = helpers.client(dc, { dc = 1 })
    assert(a:send_code("9996611003"))
    -- b signs in with the raw methods: its login record is made from the answers
    local sent = assert(send_code(b, "9996611004"))
    local auth = assert(b.auth.signIn{ phone_number = "9996611004", phone_code_hash = sent.phone_code_hash,
      phone_code = "11111" })
    assert.equal("auth.authorization", auth._)
    assert(c.help.getConfig{})
    assert.equal("wait_code", a:login_state().state)
    assert.equal("ready", b:login_state().state)
    assert.equal(auth.user.id, b:session_info().user_id)
    assert.equal("wait_phone_number", c:login_state().state)
    assert.is_nil(a:session_info().user_id)
    assert.is_nil(c:session_info().user_id)
  end)

  it("a client that is not signed in makes its update state when it needs one", function()
    local a <close> = helpers.client(dc, { dc = 1 })
    assert(a.help.getConfig{})
    assert.is_nil(a:session_info().updates)
    assert.is_true(a:run(0))
    local got = a:get_updates()
    assert.same({}, got)
    got[1] = "mine" -- the caller's own list
    assert.same({}, a:get_updates())
    -- signed in, the same client asks for the state and keeps it
    local phone = "9996611005"
    local sent = assert(send_code(a, phone))
    assert(a.auth.signIn{ phone_number = phone, phone_code_hash = sent.phone_code_hash, phone_code = "11111" })
    assert(a.help.getConfig{})
    local st = a:session_info().updates
    assert.is_table(st)
    assert.is_number(st.pts)
  end)

  it("options left out take the defaults; the ones given stay with their client", function()
    local a <close> = helpers.client(dc, { dc = 1, timeout = 3, test_mode = false })
    local b <close> = helpers.client(dc, { dc = 1, device_model = "other model" })
    assert.is_false(a:session_info().test_mode)
    assert.is_false(b:session_info().test_mode)
    assert.equal("config", assert(a.help.getConfig{})._)
    assert.equal("config", assert(b.help.getConfig{})._)
    -- clients made with the same options, then with one of them changed
    local o = dc:client_options{ api_id = API_ID, api_hash = API_HASH, dc = 1 }
    local same <close> = assert(require("mtproto").client(o))
    local other = {}
    for k, v in pairs(o) do other[k] = v end
    other.dc_options = { [1] = { host = "127.0.0.2", port = 1 } }
    other.test_mode = true
    local moved <close> = assert(require("mtproto").client(other))
    local again <close> = assert(require("mtproto").client(o))
    assert.same({ "127.0.0.2", 1 }, { moved:dc_address(1) })
    assert.same({ same:dc_address(1) }, { again:dc_address(1) })
    assert.are_not.equal("127.0.0.2", (same:dc_address(1)))
    assert.matches("test servers", tostring(moved))
    assert.not_matches("test servers", tostring(again))
    assert.is_true(moved:session_info().test_mode)
    assert.is_false(again:session_info().test_mode)
    assert.equal("config", assert(again.help.getConfig{})._)
  end)
end)

describe("update states", function()
  local function state()
    local got = {}
    local st = updates.new{ invoke = function() return nil, "no calls here" end, clock = function() return 0 end }
    return st, got
  end

  it("keep their own lists: one state's updates, handlers and channels never show in another", function()
    local s1, s2 = state(), state()
    local seen1, seen2 = {}, {}
    s1:on_update(function(u) seen1[#seen1 + 1] = u._ end)
    s2:on_update(function(u) seen2[#seen2 + 1] = u._ end)
    s1:feed(tl.encode{ _ = "updateShort", date = 1, update = { _ = "updateUserTyping", user_id = 5,
      action = { _ = "sendMessageTypingAction" } } })
    s1:feed(tl.encode{ _ = "updates", date = 1, seq = 0, users = {}, chats = {}, updates = {
      { _ = "updateNewChannelMessage", pts = 10, pts_count = 1, message = { _ = "message", id = 1, date = 1,
        message = "hi", peer_id = { _ = "peerChannel", channel_id = 555 } } } } })
    s1:dispatch()
    s2:dispatch()
    assert.same({ "updateUserTyping", "updateNewChannelMessage" }, seen1)
    assert.same({}, seen2)
    assert.equal(10, s1.channels[555].pts)
    assert.is_nil(s2.channels[555])
    assert.equal(2, #s1:take())
    -- an empty take is a list of the caller's own
    local t = s2:take()
    assert.same({}, t)
    t[1] = "mine"
    assert.same({}, s2:take())
    assert.same({}, s1:take())
    local snap, chans = s2:snapshot()
    assert.is_nil(snap)
    assert.is_nil(chans)
  end)
end)
