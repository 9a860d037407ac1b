-- mtproto.updates without a network: every Updates constructor unpacked into single updates
-- (fed as the TL bytes the server would send), and the ordering rules of each sequence
-- (pts, qts, seq, per channel) with the difference calls answered by a script.
local tl = require("mtproto.tl")
local updates = require("mtproto.updates")

local USER = { _ = "user", id = 42, first_name = "Ann", access_hash = 7 }
local CHAN = { _ = "channel", id = 555, access_hash = 99, title = "news", photo = { _ = "chatPhotoEmpty" }, date = 1 }

-- A state fed through the codec; `answers` script the calls (a list of results per method).
local function harness(o)
  o = o or {}
  local h = { got = {}, calls = {}, logs = {}, now = 100 }
  local answers = o.answers or {}
  h.st = updates.new{
    self_id = o.self_id, state = o.state, channels = o.channels,
    clock = function() return h.now end,
    log = function(level, fmt, ...) h.logs[#h.logs + 1] = level .. " " .. string.format(fmt, ...) end,
    invoke = function(obj)
      h.calls[#h.calls + 1] = obj
      local list = answers[obj._]
      local r = list and table.remove(list, 1)
      if r == nil then return nil, "no answer scripted for " .. obj._ end
      return r
    end,
  }
  h.st:on_update(function(u, ctx) h.got[#h.got + 1] = { u, ctx } end)
  function h.feed(obj, request)
    h.st:feed(tl.encode(obj), request)
    h.st:dispatch()
  end
  function h.names()
    local t = {}
    for i, e in ipairs(h.got) do t[i] = e[1]._ .. (e[1].pts and ("@" .. e[1].pts) or "") end
    return t
  end
  return h
end

local function msg(id, text, pts)
  return { _ = "updateNewMessage", pts = pts, pts_count = 1,
    message = { _ = "message", id = id, peer_id = { _ = "peerUser", user_id = 42 }, date = 1000 + id, message = text } }
end

describe("updates: unpacking", function()
  it("updateShort gives its update, with no users or chats", function()
    local h = harness()
    h.feed{ _ = "updateShort", update = { _ = "updateLoginToken" }, date = 5 }
    assert.same({ _ = "updateLoginToken" }, h.got[1][1])
    assert.same({}, h.got[1][2].users)
    assert.same({}, h.got[1][2].chats)
  end)

  it("updateShortMessage becomes updateNewMessage of a private message", function()
    local h = harness()
    h.feed{ _ = "updateShortMessage", id = 7, user_id = 42, message = "hi", pts = 3, pts_count = 1, date = 1700,
      silent = true }
    assert.same({ _ = "updateNewMessage", pts = 3, pts_count = 1, message = {
      _ = "message", id = 7, silent = true, message = "hi", date = 1700,
      from_id = { _ = "peerUser", user_id = 42 }, peer_id = { _ = "peerUser", user_id = 42 } } }, h.got[1][1])
  end)

  it("an outgoing updateShortMessage is from the signed-in user", function()
    local h = harness{ self_id = 9 }
    h.st.pts, h.st.qts, h.st.seq, h.st.date = 2, 0, 0, 0
    h.feed{ _ = "updateShortMessage", out = true, id = 8, user_id = 42, message = "yo", pts = 3, pts_count = 1, date = 1 }
    assert.same({ _ = "peerUser", user_id = 9 }, h.got[1][1].message.from_id)
    assert.same({ _ = "peerUser", user_id = 42 }, h.got[1][1].message.peer_id)
    assert.is_true(h.got[1][1].message.out)
  end)

  it("updateShortChatMessage becomes updateNewMessage in a basic group", function()
    local h = harness()
    h.feed{ _ = "updateShortChatMessage", id = 4, from_id = 42, chat_id = 77, message = "all", pts = 9,
      pts_count = 1, date = 1701 }
    assert.same({ _ = "updateNewMessage", pts = 9, pts_count = 1, message = {
      _ = "message", id = 4, message = "all", date = 1701,
      from_id = { _ = "peerUser", user_id = 42 }, peer_id = { _ = "peerChat", chat_id = 77 } } }, h.got[1][1])
  end)

  it("updateShortSentMessage becomes the sent message, built from the request", function()
    local h = harness{ self_id = 9 }
    h.feed({ _ = "updateShortSentMessage", out = true, id = 11, pts = 5, pts_count = 1, date = 1702 },
      { _ = "messages.sendMessage", peer = { _ = "inputPeerSelf" }, message = "note", random_id = 1 })
    assert.same({ _ = "updateNewMessage", pts = 5, pts_count = 1, message = {
      _ = "message", out = true, id = 11, message = "note", date = 1702,
      from_id = { _ = "peerUser", user_id = 9 }, peer_id = { _ = "peerUser", user_id = 9 } } }, h.got[1][1])
  end)

  it("updateShortSentMessage without its request is passed on as it is", function()
    local h = harness()
    h.feed{ _ = "updateShortSentMessage", id = 11, pts = 5, pts_count = 1, date = 1702 }
    assert.same({ _ = "updateShortSentMessage", id = 11, pts = 5, pts_count = 1, date = 1702 }, h.got[1][1])
  end)

  it("updates and updatesCombined give each update with the users and chats", function()
    local h = harness()
    h.feed{ _ = "updates", updates = { msg(1, "a", 1), { _ = "updateUserTyping", user_id = 42,
      action = { _ = "sendMessageTypingAction" } } }, users = { USER }, chats = { CHAN }, date = 9, seq = 0 }
    h.feed{ _ = "updatesCombined", updates = { msg(2, "b", 2) }, users = {}, chats = {}, date = 9,
      seq_start = 0, seq = 0 }
    assert.same({ "updateNewMessage@1", "updateUserTyping", "updateNewMessage@2" }, h.names())
    assert.same({ USER }, h.got[1][2].users)
    assert.same({ CHAN }, h.got[2][2].chats)
    assert.same({}, h.got[3][2].users)
  end)

  it("updatesTooLong is passed on while there is no state, and asks for the difference with one", function()
    local h = harness()
    h.feed{ _ = "updatesTooLong" }
    assert.same({ "updatesTooLong" }, h.names())
    assert.same({}, h.calls)
    local h2 = harness{ self_id = 9, state = { pts = 1, qts = 0, date = 1, seq = 0 },
      answers = { ["updates.getDifference"] = {
        { _ = "updates.differenceEmpty", date = 2, seq = 0 },
        { _ = "updates.differenceEmpty", date = 3, seq = 0 } } } }
    h2.st:dispatch() -- the resumed state asks first
    assert.equal(1, #h2.calls)
    h2.feed{ _ = "updatesTooLong" }
    assert.same({}, h2.names())
    assert.equal(2, #h2.calls)
    assert.same({ _ = "updates.getDifference", pts = 1, date = 2, qts = 0 }, h2.calls[2])
    assert.equal(3, h2.st.date)
  end)

  it("drops bytes that do not decode, with a log line", function()
    local h = harness()
    h.st:feed("\1\2\3\4")
    h.st:dispatch()
    assert.same({}, h.got)
    assert.truthy(h.logs[1]:find("undecodable update dropped"))
  end)
end)

describe("updates: ordering", function()
  local function stateful(answers)
    return harness{ self_id = 9, answers = answers or {} ,
      state = nil }
  end
  local function with_state(h, pts, qts, seq)
    h.st.pts, h.st.qts, h.st.seq, h.st.date = pts, qts or 0, seq or 0, 1
  end

  it("fetches the state with updates.getState when signed in without one", function()
    local h = stateful{ ["updates.getState"] = { { _ = "updates.state", pts = 10, qts = 2, date = 50, seq = 4,
      unread_count = 0 } } }
    h.st:dispatch()
    assert.same({ { _ = "updates.getState" } }, h.calls)
    assert.same({ pts = 10, qts = 2, date = 50, seq = 4 }, (h.st:snapshot()))
  end)

  it("applies pts in order, skips what it has seen, holds a gap until it is filled", function()
    local h = stateful()
    with_state(h, 10)
    h.feed{ _ = "updateShort", update = msg(1, "a", 11), date = 2 }
    h.feed{ _ = "updateShort", update = msg(1, "a", 11), date = 2 }      -- again: seen
    h.feed{ _ = "updateShort", update = msg(3, "c", 13), date = 2 }      -- 12 is missing
    assert.same({ "updateNewMessage@11" }, h.names())
    h.feed{ _ = "updateShort", update = msg(2, "b", 12), date = 2 }      -- fills it
    assert.same({ "updateNewMessage@11", "updateNewMessage@12", "updateNewMessage@13" }, h.names())
    assert.equal(13, h.st.pts)
    assert.same({}, h.calls)
  end)

  it("a gap still open after GAP_WAIT is filled with getDifference, following slices", function()
    local h = stateful{ ["updates.getDifference"] = {
      { _ = "updates.differenceSlice", new_messages = { msg(2, "b").message }, new_encrypted_messages = {},
        other_updates = {}, chats = {}, users = { USER },
        intermediate_state = { _ = "updates.state", pts = 12, qts = 0, date = 60, seq = 0, unread_count = 0 } },
      { _ = "updates.difference", new_messages = { msg(3, "c").message }, new_encrypted_messages = {},
        other_updates = { { _ = "updateUserTyping", user_id = 42, action = { _ = "sendMessageTypingAction" } } },
        chats = {}, users = {},
        state = { _ = "updates.state", pts = 14, qts = 1, date = 61, seq = 3, unread_count = 0 } },
    } }
    with_state(h, 11)
    h.feed{ _ = "updateShort", update = msg(4, "d", 14), date = 2 }      -- 12..13 missing
    assert.same({}, h.names())
    h.now = h.now + updates.GAP_WAIT
    h.st:dispatch()
    assert.same({ _ = "updates.getDifference", pts = 11, date = 1, qts = 0 }, h.calls[1])
    assert.same({ _ = "updates.getDifference", pts = 12, date = 60, qts = 0 }, h.calls[2])
    assert.same({ "updateNewMessage@12", "updateNewMessage@14", "updateUserTyping" }, h.names())
    assert.equal("b", h.got[1][1].message.message)
    assert.same({ USER }, h.got[1][2].users)
    assert.same({ pts = 14, qts = 1, date = 61, seq = 3 }, (h.st:snapshot()))
    -- the held update (pts 14) was part of the difference: not delivered twice
    h.st:dispatch()
    assert.equal(3, #h.got)
  end)

  it("differenceTooLong moves pts, tells the handlers, and goes on", function()
    local h = stateful{ ["updates.getDifference"] = {
      { _ = "updates.differenceTooLong", pts = 5000 },
      { _ = "updates.differenceEmpty", date = 70, seq = 8 } } }
    with_state(h, 1)
    h.st.need_diff = true
    h.st:dispatch()
    assert.same({ "updates.differenceTooLong@5000" }, h.names())
    assert.same({ pts = 5000, qts = 0, date = 70, seq = 8 }, (h.st:snapshot()))
  end)

  it("orders containers by seq and holds a container after a seq gap", function()
    local h = stateful()
    with_state(h, 1, 0, 5)
    h.feed{ _ = "updates", updates = { msg(3, "c", 3) }, users = {}, chats = {}, date = 9, seq = 7 } -- 6 missing
    assert.same({}, h.names())
    h.feed{ _ = "updatesCombined", updates = { msg(2, "b", 2) }, users = {}, chats = {}, date = 9,
      seq_start = 6, seq = 6 }
    assert.same({ "updateNewMessage@2", "updateNewMessage@3" }, h.names())
    assert.equal(7, h.st.seq)
    h.feed{ _ = "updates", updates = { msg(4, "x", 4) }, users = {}, chats = {}, date = 9, seq = 7 } -- seen
    assert.equal(2, #h.got)
  end)

  it("orders qts updates", function()
    local h = stateful()
    with_state(h, 1, 4)
    local function stop(q) return { _ = "updateBotStopped", user_id = 42, date = 1, stopped = true, qts = q } end
    h.feed{ _ = "updateShort", update = stop(6), date = 1 }
    h.feed{ _ = "updateShort", update = stop(5), date = 1 }
    h.feed{ _ = "updateShort", update = stop(5), date = 1 }
    assert.same({ 5, 6 }, { h.got[1][1].qts, h.got[2][1].qts })
    assert.equal(2, #h.got)
  end)

  it("tracks a channel from its first update and fills its gap with getChannelDifference", function()
    local function chmsg(id, pts)
      return { _ = "updateNewChannelMessage", pts = pts, pts_count = 1, message = { _ = "message", id = id,
        peer_id = { _ = "peerChannel", channel_id = 555 }, date = 1, message = "m" .. id } }
    end
    local h = stateful{ ["updates.getChannelDifference"] = {
      { _ = "updates.channelDifference", final = false, pts = 21, new_messages = { chmsg(21, 21).message },
        other_updates = {}, chats = {}, users = {} },
      { _ = "updates.channelDifference", final = true, pts = 22, new_messages = { chmsg(22, 22).message },
        other_updates = {}, chats = {}, users = {} } } }
    with_state(h, 1)
    h.feed{ _ = "updates", updates = { chmsg(20, 20) }, users = {}, chats = { CHAN }, date = 1, seq = 0 }
    h.feed{ _ = "updates", updates = { chmsg(23, 23) }, users = {}, chats = {}, date = 1, seq = 0 } -- 21, 22 missing
    assert.same({ "updateNewChannelMessage@20" }, h.names())
    h.now = h.now + updates.GAP_WAIT
    h.st:dispatch()
    assert.same({ _ = "updates.getChannelDifference",
      channel = { _ = "inputChannel", channel_id = 555, access_hash = 99 },
      filter = { _ = "channelMessagesFilterEmpty" }, pts = 20, limit = 100 }, h.calls[1])
    assert.equal(21, h.calls[2].pts)
    assert.same({ "updateNewChannelMessage@20", "updateNewChannelMessage@21", "updateNewChannelMessage@22",
      "updateNewChannelMessage@23" }, h.names())
    assert.same({ pts = 23, access_hash = 99 }, h.st.channels[555])
    -- updateChannelTooLong of a tracked channel asks for its difference too
    h.st.invoke = function(obj)
      h.calls[#h.calls + 1] = obj
      return { _ = "updates.channelDifferenceEmpty", final = true, pts = 30 }
    end
    h.feed{ _ = "updateShort", update = { _ = "updateChannelTooLong", channel_id = 555 }, date = 1 }
    assert.equal(23, h.calls[3].pts)
    assert.equal(30, h.st.channels[555].pts)
  end)
end)

describe("updates: handlers", function()
  it("a handler that raises is logged and the others still run, for every update", function()
    local h = harness()
    local seen = {}
    h.st:on_update(function(u) seen[#seen + 1] = u._ end)
    h.st.handlers[1], h.st.handlers[2] = function() error("boom") end, h.st.handlers[2]
    h.feed{ _ = "updates", updates = { { _ = "updateLoginToken" }, { _ = "updateConfig" } }, users = {}, chats = {},
      date = 1, seq = 0 }
    assert.same({ "updateLoginToken", "updateConfig" }, seen)
    assert.equal(2, #h.logs)
    assert.truthy(h.logs[1]:find("^error update handler failed on updateLoginToken: .*boom"))
  end)

  it("a handler that feeds and dispatches again gets the new update after the current one", function()
    local h = harness()
    local order = {}
    h.st:on_update(function(u)
      order[#order + 1] = "start " .. u._
      if u._ == "updateLoginToken" then
        h.st:feed(tl.encode{ _ = "updateShort", update = { _ = "updateConfig" }, date = 1 })
        h.st:dispatch() -- a nested dispatch only queues
      end
      order[#order + 1] = "end " .. u._
    end)
    h.feed{ _ = "updateShort", update = { _ = "updateLoginToken" }, date = 1 }
    assert.same({ "start updateLoginToken", "end updateLoginToken", "start updateConfig", "end updateConfig" }, order)
  end)

  it("a handler that closes the state stops the dispatch", function()
    local h = harness()
    local n = 0
    h.st:on_update(function() n = n + 1; h.st:close() end)
    h.feed{ _ = "updates", updates = { { _ = "updateLoginToken" }, { _ = "updateConfig" } }, users = {}, chats = {},
      date = 1, seq = 0 }
    assert.equal(1, n)
    h.st:feed(tl.encode{ _ = "updatesTooLong" })
    h.st:dispatch()
    assert.equal(1, n)
  end)

  it("take() returns what the handlers got, bounded", function()
    local h = harness()
    local old = updates.MAX_KEPT
    updates.MAX_KEPT = 3
    for i = 1, 5 do h.feed{ _ = "updateShort", update = msg(i, "m", i), date = 1 } end
    updates.MAX_KEPT = old
    local kept = h.st:take()
    assert.same({ 3, 4, 5 }, { kept[1].pts, kept[2].pts, kept[3].pts })
    assert.same({}, h.st:take())
  end)
end)
