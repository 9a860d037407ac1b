-- Updates pushed by the test DC reach on_update while client:run() waits; messages.sendMessage
-- moves pts like Telegram (updateShortSentMessage back, updateShortMessage to the other sessions
-- and to the peer).
local helpers = require("helpers")
local mtproto = require("mtproto")

local signed_in = helpers.signed_in

describe("updates: pushes during client:run", function()
  it("delivers the push timer's updates with their users, for the time asked", function()
    local dc = helpers.start_testdc{ dcs = 2, push_updates = 20 }
    local client = signed_in(dc, "9996620001")
    local got = {}
    client:on_update(function(u, ctx) got[#got + 1] = { u, ctx } end)
    local t0 = mtproto.core.conn.monotonic()
    assert.is_true(client:run(0.6))
    local took = mtproto.core.conn.monotonic() - t0
    assert.is_true(took >= 0.6 and took < 3, "run(0.6) took " .. took)
    assert.is_true(#got >= 8, "only " .. #got .. " updates in 0.6 s of 20 ms pushes")
    local with_users = 0
    for i, e in ipairs(got) do
      local u = e[1]
      assert.equal("updateNewMessage", u._)
      assert.equal("update " .. i, u.message.message)
      assert.same({ _ = "peerUser", user_id = 777000 }, u.message.peer_id)
      if #e[2].users > 0 then
        with_users = with_users + 1
        assert.equal(777000, e[2].users[1].id)
        assert.equal("Telegram", e[2].users[1].first_name)
      end
    end
    assert.is_true(with_users >= 3, "the updates#74ae4240 pushes carry the user")
    client:close()
    dc:stop()
  end)

  it("client:stop() in a handler ends run(); run() without updates returns after its time", function()
    local dc = helpers.start_testdc{ dcs = 2, push_updates = 20 }
    local client = signed_in(dc, "9996620002")
    local n = 0
    client:on_update(function() n = n + 1; if n == 3 then client:stop() end end)
    assert.is_true(client:run()) -- forever, but for stop()
    assert.equal(3, n)
    client:close()
    dc:stop()
    local quiet = helpers.start_testdc{ dcs = 2 }
    local c2 = signed_in(quiet, "9996620003")
    local t0 = mtproto.core.conn.monotonic()
    assert.is_true(c2:run(0.3))
    assert.is_true(mtproto.core.conn.monotonic() - t0 >= 0.3)
    assert.has_error(function() c2:run(-1) end, "bad argument #1 to 'run' (expected a number of seconds >= 0 or nil)")
    c2:close()
    quiet:stop()
  end)

  it("run() sends a keep-alive ping_delay_disconnect every PING_INTERVAL", function()
    local dc = helpers.start_testdc{ dcs = 2 }
    local pings = 0
    local client = signed_in(dc, "9996620006", { log_level = "debug", logger = function(_, m)
      if m:find("^call ping_delay_disconnect on DC 2") then pings = pings + 1 end
    end })
    local cm = require("mtproto.client")
    local old = cm.PING_INTERVAL
    cm.PING_INTERVAL = 0.1
    local ok = client:run(0.55)
    cm.PING_INTERVAL = old
    assert.is_true(ok)
    assert.is_true(pings >= 3 and pings <= 6, pings .. " pings in 0.55 s")
    client:close()
    dc:stop()
  end)

  it("messages.sendMessage: the sent message to the caller, pushes to its other session and to the peer", function()
    local dc = helpers.start_testdc{ dcs = 2 }
    local alice, alice_id = signed_in(dc, "9996620004")
    local alice2 = signed_in(dc, "9996620004")
    local bob, bob_id = signed_in(dc, "9996620005")
    local got = { alice = {}, alice2 = {}, bob = {} }
    for name, c in pairs{ alice = alice, alice2 = alice2, bob = bob } do
      assert(c.updates.getState{})
      c:on_update(function(u) got[name][#got[name] + 1] = u end)
    end
    local r = assert(alice.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "note", random_id = 1 })
    assert.equal("updateShortSentMessage", r._)
    r = assert(alice.messages.sendMessage{ peer = { _ = "inputPeerUser", user_id = bob_id, access_hash = 0 },
      message = "hi bob", random_id = 2 })
    assert.equal("updateShortSentMessage", r._)
    assert.is_true(alice2:run(0.2))
    assert.is_true(bob:run(0.2))
    local function summary(list)
      local t = {}
      for _, u in ipairs(list) do
        t[#t + 1] = ("%s %s %s %d"):format(u._, u.message.out and "out" or "in", u.message.message,
          u.message.peer_id.user_id)
      end
      return t
    end
    local sent = { "updateNewMessage out note " .. alice_id, "updateNewMessage out hi bob " .. bob_id }
    assert.same(sent, summary(got.alice))
    assert.same(sent, summary(got.alice2))
    assert.same({ "updateNewMessage in hi bob " .. alice_id }, summary(got.bob))
    -- Telegram's errors for what cannot be sent
    local _, err = alice.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "", random_id = 3 }
    assert.equal("MESSAGE_EMPTY", err.message)
    _, err = alice.messages.sendMessage{ peer = { _ = "inputPeerEmpty" }, message = "x", random_id = 4 }
    assert.equal("PEER_ID_INVALID", err.message)
    local stranger = assert(mtproto.client(dc:client_options{ api_id = helpers.API_ID, api_hash = helpers.API_HASH }))
    _, err = stranger.messages.sendMessage{ peer = { _ = "inputPeerSelf" }, message = "x", random_id = 5 }
    assert.equal(401, err.code)
    assert.equal("AUTH_KEY_UNREGISTERED", err.message)
    _, err = stranger.updates.getState{} -- as Telegram: GramJS tells a signed-in key by this
    assert.equal(401, err.code)
    for _, c in ipairs{ alice, alice2, bob, stranger } do c:close() end
    dc:stop()
  end)
end)
