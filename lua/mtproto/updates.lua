-- mtproto.updates: the update state of a client, and the dispatch of updates to handlers.
--
-- The server pushes `Updates` objects (updates, updatesCombined, updateShort,
-- updateShortMessage, updateShortChatMessage, updatesTooLong) and some calls answer with one
-- (updateShortSentMessage for messages.sendMessage). This module unpacks them into single
-- `Update` objects, puts them in order with the sequence numbers the server gives
-- (core.telegram.org/api/updates), and calls the handlers with each:
--
--   handler(update, { users = { User... }, chats = { Chat... } })
--
-- Ordering rules, per sequence:
--   pts  (the account's messages): an update with pts and pts_count applies when
--        local_pts + pts_count == pts; a smaller pts was seen already; a larger one is a gap.
--   qts  (secret chats, bot events): the same with a count of 1.
--   seq  (updates/updatesCombined): applies when local_seq + 1 == seq_start (seq for
--        `updates`); 0 means unordered.
--   per channel: updateNewChannelMessage & co. carry the channel's own pts. A channel is
--        tracked from the first update of it seen; its access_hash comes from the chats
--        that arrive with updates.
-- An update after a gap is held for GAP_WAIT seconds (the missing ones often arrive just
-- after); then updates.getDifference (or updates.getChannelDifference) fills the gap:
-- differenceSlice is followed until the end, differenceTooLong moves pts to the server's
-- (and is passed to the handlers: updates were lost). updatesTooLong, a resumed state
-- and a new TCP connection also ask for the difference. Without a state (a client that
-- is not signed in, or before updates.getState), updates are passed on unchecked.
--
-- The connection layer gives raw update bytes to `feed`; `dispatch` does the work that
-- may call the server (getState, getDifference) and runs the handlers. Both are safe to
-- call from a handler: while a dispatch runs, new updates are only queued (no nested
-- dispatch), and a handler that closes the client stops the dispatch.
local tl = require("mtproto.tl")

local M = {}

M.GAP_WAIT = 0.5          -- seconds an update after a gap waits for the missing ones
M.MAX_PENDING = 1000      -- updates held for gaps; more: give up waiting, get the difference
M.MAX_KEPT = 1000         -- updates kept for get_updates (the oldest are dropped)
M.MAX_CHANNELS = 10000    -- channels tracked
M.MAX_ROUNDS = 100        -- getDifference slices followed in one go
M.RETRY = 2               -- seconds before a failed getDifference is tried again

local State = {}
State.__index = State
State.__name = "mtproto.updates"

local EMPTY = setmetatable({}, { __newindex = function() error("read-only", 2) end })
local NO_ENTITIES = { users = EMPTY, chats = EMPTY }

-- What a state holds until it changes, shared by every state (most clients never get an
-- update: a state keeps only what differs). The lists are the read-only EMPTY until `own`
-- gives the state a list of its own to write to.
State.channels, State.nchannels = EMPTY, 0   -- [channel id] = { pts =, access_hash = }
State.handlers = EMPTY
State.inbox, State.ready = EMPTY, EMPTY      -- fed, not yet applied; applied, not yet handled
State.pending = EMPTY                         -- held for a gap
State.kept, State.kept_dropped = EMPTY, 0     -- handled, for get_updates
State.chdiff = EMPTY                          -- [channel id] = true: its difference is wanted
State.need_diff, State.need_state, State.retry_at = false, false, 0
State.dispatching, State.closed = false, false

local function own(st, k)
  local t = rawget(st, k)
  if not t then
    t = {}
    st[k] = t
  end
  return t
end

local function noop() end

-- st = updates.new{ invoke =, pull =, log =, clock =, self_id =, bot =, state =, channels = }
--   invoke(obj) -> result | nil, err    a call (getState, getDifference, ...)
--   pull()                              moves raw updates waiting in the connections to feed()
--   log(level, fmt, ...)                clock() -> seconds (monotonic)
--   self_id                             the signed-in user (nil: not signed in, no state)
--   state = { pts, qts, date, seq }     a saved state (then the difference is asked first)
--   channels = { [id] = { pts =, access_hash = } }
function M.new(o)
  local st = setmetatable({
    invoke = o.invoke, pull = o.pull or noop, log = o.log or noop, clock = o.clock or os.clock,
    on_change = o.on_change or noop,
    self_id = o.self_id, bot = o.bot,
  }, State)
  local s = o.state
  if s and s.pts then
    st.pts, st.qts, st.date, st.seq = s.pts, s.qts or 0, s.date or 0, s.seq or 0
    st.need_diff = true -- what happened while this state was on disk
  end
  for id, c in pairs(o.channels or EMPTY) do
    own(st, "channels")[id] = { pts = c.pts, access_hash = c.access_hash }
    st.nchannels = st.nchannels + 1
  end
  return st
end

-- The state to save: { pts, qts, date, seq } (nil when there is none) and the channels.
function State:snapshot()
  local s
  if self.pts then s = { pts = self.pts, qts = self.qts, date = self.date, seq = self.seq } end
  return s, rawget(self, "channels")
end

function State:on_update(fn)
  local hs = own(self, "handlers")
  hs[#hs + 1] = fn
end

-- The signed-in user changed (sign-in, log-out): a new state is needed.
function State:set_user(id, bot)
  if id == self.self_id then return end
  self.self_id, self.bot = id, bot
  self.pts, self.qts, self.date, self.seq = nil, nil, nil, nil
  self.channels, self.nchannels, self.pending = nil, nil, nil
  self.need_diff, self.chdiff = false, nil
  self.on_change()
end

-- A new TCP connection: updates pushed meanwhile were lost, ask for the difference.
function State:reconnected()
  if self.pts then self.need_diff = true end
end

local function changed(st)
  st.on_change()
end

local function keep(st, upd)
  local k = own(st, "kept")
  if #k >= M.MAX_KEPT then
    table.remove(k, 1)
    if st.kept_dropped == 0 then
      st.log("warn", "updates: more than %d updates not taken with get_updates: dropping the oldest", M.MAX_KEPT)
    end
    st.kept_dropped = st.kept_dropped + 1
  end
  k[#k + 1] = upd
end

-- An update ready for the handlers.
local function deliver(st, upd, ctx)
  local r = own(st, "ready")
  r[#r + 1] = { upd, ctx or NO_ENTITIES }
end

---------------------------------------------------------------------------------------------
-- Unpacking the short forms

local function peer_user(id) return { _ = "peerUser", user_id = id } end

-- The Peer an InputPeer of a request names (for updateShortSentMessage).
local function peer_of(st, ip)
  if type(ip) ~= "table" then return nil end
  local k = ip._
  if k == "inputPeerSelf" then return st.self_id and peer_user(st.self_id) end
  if k == "inputPeerUser" or k == "inputPeerUserFromMessage" then return peer_user(ip.user_id) end
  if k == "inputPeerChat" then return { _ = "peerChat", chat_id = ip.chat_id } end
  if k == "inputPeerChannel" or k == "inputPeerChannelFromMessage" then
    return { _ = "peerChannel", channel_id = ip.channel_id }
  end
  return nil
end

-- The fields updateShortMessage and updateShortChatMessage share with message.
local SHORT_FIELDS = { "out", "mentioned", "media_unread", "silent", "id", "message", "date",
  "fwd_from", "via_bot_id", "reply_to", "entities", "ttl_period", "media" }

local function short_message(u, from_id, peer_id)
  local m = { _ = "message", from_id = from_id, peer_id = peer_id }
  for _, f in ipairs(SHORT_FIELDS) do m[f] = u[f] end
  m.message = m.message or ""
  return { _ = "updateNewMessage", message = m, pts = u.pts, pts_count = u.pts_count }
end

-- updateShortSentMessage: the answer to a message the client sent, with what the request
-- had (text, peer) the server leaves out. nil when the request is not known.
local function sent_message(st, u, request)
  if type(request) ~= "table" then return nil end
  local peer = peer_of(st, request.peer)
  if not peer then return nil end
  local m = short_message(u, st.self_id and peer_user(st.self_id), peer)
  m.message.out = true
  m.message.message = type(request.message) == "string" and request.message or ""
  m.message.entities = u.entities or request.entities
  return m
end

---------------------------------------------------------------------------------------------
-- Sequences

-- What a local value says of an update needing `start` before it and leaving `finish`.
local function check(localv, start)
  if localv == nil then return "apply" end
  if localv == start then return "apply" end
  if localv > start then return "skip" end
  return "gap"
end

-- The channel an update with pts belongs to, if any.
local function channel_of(u)
  if math.type(u.channel_id) == "integer" then return u.channel_id end
  local m = u.message
  local p = type(m) == "table" and m.peer_id
  if type(p) == "table" and p._ == "peerChannel" then return p.channel_id end
  return nil
end

local function remember_chats(st, chats)
  for _, c in ipairs(chats or EMPTY) do
    if type(c) == "table" and c._ == "channel" and c.access_hash and not c.min then
      local ch = st.channels[c.id]
      if ch then
        ch.access_hash = c.access_hash
      elseif st.nchannels < M.MAX_CHANNELS then
        own(st, "channels")[c.id] = { access_hash = c.access_hash }
        st.nchannels = st.nchannels + 1
      end
    end
  end
end

-- The sequence an update belongs to: key ("pts", "qts" or a channel id), the value it needs
-- before it, the value it leaves. nil for updates outside any sequence.
local function sequence(u)
  if math.type(u.pts) == "integer" and math.type(u.pts_count) == "integer" then
    local ch = channel_of(u)
    return ch or "pts", u.pts - u.pts_count, u.pts
  end
  if math.type(u.qts) == "integer" then return "qts", u.qts - 1, u.qts end
  return nil
end

local function local_value(st, key)
  if key == "pts" or key == "qts" or key == "seq" then return st[key] end
  local ch = st.channels[key]
  return ch and ch.pts
end

local function set_local(st, key, v)
  if key == "pts" or key == "qts" or key == "seq" then
    st[key] = v
  else
    local ch = st.channels[key]
    if not ch then
      if st.nchannels >= M.MAX_CHANNELS then return end
      ch = {}
      own(st, "channels")[key] = ch
      st.nchannels = st.nchannels + 1
    end
    ch.pts = v
  end
  changed(st)
end

local function hold(st, key, start, finish, item)
  if #st.pending >= M.MAX_PENDING then
    st.log("warn", "updates: more than %d updates wait for a gap: asking for the difference", M.MAX_PENDING)
    st.pending = nil
    st.need_diff = true
    return
  end
  st.log("debug", "updates: gap in %s (local %s, update needs %d): holding it", tostring(key),
    tostring(local_value(st, key)), start)
  local p = own(st, "pending")
  p[#p + 1] = { key = key, start = start, finish = finish, item = item,
    deadline = st.clock() + M.GAP_WAIT }
end

local apply_single, apply_container

-- Applies what was held for `key` and can go now; drops what is already covered.
local function release(st, key)
  local again = true
  while again do
    again = false
    local p = st.pending
    for i = 1, #p do
      local e = p[i]
      if e.key == key then
        local v = check(local_value(st, key), e.start)
        if v ~= "gap" then
          table.remove(p, i)
          if v == "apply" then
            if key == "seq" then apply_container(st, e.item, true) else apply_single(st, e.item[1], e.item[2], true) end
          end
          again = true
          break
        end
      end
    end
  end
end

-- One Update, with the users and chats it came with. `fresh`: it arrived before the state
-- was fetched, so what the state already counts was never shown: it is delivered.
function apply_single(st, u, ctx, held, fresh)
  if type(u) ~= "table" then return end
  local name = u._
  if name == "updateChannelTooLong" then
    local ch = st.channels[u.channel_id]
    if ch and ch.pts and ch.access_hash then own(st, "chdiff")[u.channel_id] = true; return end
    return deliver(st, u, ctx)
  end
  if name == "updatePtsChanged" then
    if st.self_id then st.need_state = true end
    return deliver(st, u, ctx)
  end
  local key, start, finish = sequence(u)
  if key == nil then return deliver(st, u, ctx) end
  local is_channel = key ~= "pts" and key ~= "qts"
  -- without a state (not signed in) only channel updates are ordered
  if not is_channel and st[key] == nil then return deliver(st, u, ctx) end
  local v = check(local_value(st, key), start)
  if v == "skip" and fresh and local_value(st, key) >= finish then return deliver(st, u, ctx) end
  if v == "skip" then
    st.log("debug", "updates: %s %s already seen (local %s, update leaves %d)", name, tostring(key),
      tostring(local_value(st, key)), finish)
    return
  end
  if v == "gap" then
    if held then return end -- cannot happen: release() only applies what fits
    hold(st, key, start, finish, { u, ctx })
    return "held"
  end
  set_local(st, key, finish)
  deliver(st, u, ctx)
  if not held then release(st, key) end
end

-- updates / updatesCombined.
function apply_container(st, obj, held, fresh)
  local ctx = { users = obj.users or EMPTY, chats = obj.chats or EMPTY }
  remember_chats(st, ctx.chats)
  local seq_start = obj.seq_start or obj.seq or 0
  if seq_start ~= 0 and st.seq ~= nil and st.pts ~= nil and not fresh then
    local v = check(st.seq, seq_start - 1)
    if v == "skip" then
      st.log("debug", "updates: container seq %d already seen (local %d)", seq_start, st.seq)
      return
    end
    if v == "gap" then return hold(st, "seq", seq_start - 1, obj.seq, obj) end
  end
  for _, u in ipairs(obj.updates or EMPTY) do apply_single(st, u, ctx, false, fresh) end
  if st.pts ~= nil then
    if obj.seq and obj.seq > (st.seq or 0) then st.seq = obj.seq end
    if obj.date and obj.date > (st.date or 0) then st.date = obj.date end
    changed(st)
    if not held then release(st, "seq") end
  end
end

-- One Updates object (decoded). `request`: the call it answers, if it is an answer.
local function apply_updates(st, obj, request, fresh)
  local name = type(obj) == "table" and obj._
  if name == "updates" or name == "updatesCombined" then
    return apply_container(st, obj, false, fresh)
  end
  local u
  if name == "updateShort" then
    u = obj.update
  elseif name == "updateShortMessage" then
    u = short_message(obj, obj.out and st.self_id and peer_user(st.self_id) or peer_user(obj.user_id),
      peer_user(obj.user_id))
  elseif name == "updateShortChatMessage" then
    u = short_message(obj, peer_user(obj.from_id), { _ = "peerChat", chat_id = obj.chat_id })
  elseif name == "updateShortSentMessage" then
    u = sent_message(st, obj, request)
    if not u then
      -- nothing to show, but the pts it took must be counted
      u = { _ = "updateShortSentMessage", pts = obj.pts, pts_count = obj.pts_count, id = obj.id, date = obj.date }
    end
  elseif name == "updatesTooLong" then
    if st.pts then st.need_diff = true; return end
    return deliver(st, obj, NO_ENTITIES)
  else
    st.log("warn", "updates: %s is not an Updates object: passed on as it is", tostring(name))
    return deliver(st, obj, NO_ENTITIES)
  end
  -- the date moves with what is applied, not with what waits for a gap
  if apply_single(st, u, NO_ENTITIES, false, fresh) ~= "held" and st.pts and obj.date and obj.date > (st.date or 0) then
    st.date = obj.date
    changed(st)
  end
end

---------------------------------------------------------------------------------------------
-- Filling gaps

local function call(st, obj)
  local r, err = st.invoke(obj)
  if r == nil then
    st.log("warn", "updates: %s failed: %s", obj._, tostring(err))
    st.retry_at = st.clock() + M.RETRY
  end
  return r, err
end

local function set_state(st, s)
  st.pts, st.qts, st.date, st.seq = s.pts, s.qts, s.date, s.seq
  changed(st)
end

-- After the difference: what was held for the common sequences either is covered now,
-- fits now, or waits again.
local function recheck_pending(st)
  local now = st.clock()
  for _, key in ipairs{ "pts", "qts", "seq" } do release(st, key) end
  for _, e in ipairs(st.pending) do
    if e.key == "pts" or e.key == "qts" or e.key == "seq" then e.deadline = now + M.GAP_WAIT end
  end
end

local function get_state(st)
  local r = call(st, { _ = "updates.getState" })
  if not r then return false end
  set_state(st, r)
  st.log("info", "updates: state pts=%d qts=%d seq=%d date=%d", r.pts, r.qts, r.seq, r.date)
  return true
end

local function get_difference(st)
  for _ = 1, M.MAX_ROUNDS do
    local r = call(st, { _ = "updates.getDifference", pts = st.pts, date = st.date, qts = st.qts })
    if not r then return false end
    local k = r._
    st.log("debug", "updates: %s from pts %d", k, st.pts)
    if k == "updates.differenceEmpty" then
      st.date, st.seq = r.date, r.seq
      changed(st)
      break
    elseif k == "updates.differenceTooLong" then
      st.log("warn", "updates: the difference is too long: pts %d -> %d, updates between were lost", st.pts, r.pts)
      st.pts = r.pts
      changed(st)
      deliver(st, r, NO_ENTITIES)
      -- and go on: the rest (qts, seq, date) comes with the next round
    elseif k == "updates.difference" or k == "updates.differenceSlice" then
      local s = k == "updates.difference" and r.state or r.intermediate_state
      local ctx = { users = r.users or EMPTY, chats = r.chats or EMPTY }
      remember_chats(st, ctx.chats)
      for _, m in ipairs(r.new_messages or EMPTY) do
        deliver(st, { _ = "updateNewMessage", message = m, pts = s.pts, pts_count = 0 }, ctx)
      end
      for _, m in ipairs(r.new_encrypted_messages or EMPTY) do
        deliver(st, { _ = "updateNewEncryptedMessage", message = m, qts = s.qts }, ctx)
      end
      for _, u in ipairs(r.other_updates or EMPTY) do
        local key = sequence(u)
        -- channel updates keep their own order; the common ones are part of this difference
        if u._ == "updateChannelTooLong" or (key and key ~= "pts" and key ~= "qts") then
          apply_single(st, u, ctx)
        else
          deliver(st, u, ctx)
        end
      end
      set_state(st, s)
      if k == "updates.difference" then break end
    else
      st.log("warn", "updates: unexpected answer %s to updates.getDifference", tostring(k))
      return false
    end
  end
  recheck_pending(st)
  return true
end

local function get_channel_difference(st, id)
  local ch = st.channels[id]
  if not (ch and ch.pts and ch.access_hash) then
    st.log("info", "updates: channel %d: no pts or access_hash, cannot ask for its difference", id)
    return true
  end
  for _ = 1, M.MAX_ROUNDS do
    local r = call(st, { _ = "updates.getChannelDifference",
      channel = { _ = "inputChannel", channel_id = id, access_hash = ch.access_hash },
      filter = { _ = "channelMessagesFilterEmpty" }, pts = ch.pts, limit = st.bot and 100000 or 100 })
    if not r then return false end
    local k = r._
    local ctx = { users = r.users or EMPTY, chats = r.chats or EMPTY }
    remember_chats(st, ctx.chats)
    if k == "updates.channelDifferenceEmpty" then
      ch.pts = r.pts
    elseif k == "updates.channelDifferenceTooLong" then
      local d = r.dialog
      if type(d) == "table" and math.type(d.pts) == "integer" then ch.pts = d.pts end
      st.log("warn", "updates: channel %d: the difference is too long, messages between were lost", id)
      deliver(st, r, ctx)
    elseif k == "updates.channelDifference" then
      for _, m in ipairs(r.new_messages or EMPTY) do
        deliver(st, { _ = "updateNewChannelMessage", message = m, pts = r.pts, pts_count = 0 }, ctx)
      end
      for _, u in ipairs(r.other_updates or EMPTY) do deliver(st, u, ctx) end
      ch.pts = r.pts
    else
      st.log("warn", "updates: unexpected answer %s to updates.getChannelDifference", tostring(k))
      return false
    end
    changed(st)
    if r.final then break end
  end
  -- held updates of this channel: covered, fitting, or waiting again
  release(st, id)
  local now = st.clock()
  for _, e in ipairs(st.pending) do if e.key == id then e.deadline = now + M.GAP_WAIT end end
  return true
end

-- Gaps whose wait is over become difference requests.
local function expire(st, now)
  local p = st.pending
  for i = #p, 1, -1 do
    local e = p[i]
    if e.deadline <= now then
      if e.key == "pts" or e.key == "qts" or e.key == "seq" then
        st.need_diff = true
      else
        own(st, "chdiff")[e.key] = true
      end
    end
  end
end

---------------------------------------------------------------------------------------------
-- Feeding and dispatching

-- Queues raw update bytes (or a decoded Updates object); dispatch() applies them.
-- `request`: the call an answer (updateShortSentMessage) is for.
function State:feed(x, request)
  if self.closed then return end
  if type(x) == "string" then
    local obj, err = tl.decode(x)
    if obj == nil then
      self.log("warn", "updates: undecodable update dropped: %s %s", err.message, err.detail)
      return
    end
    x = obj
  end
  local inbox = own(self, "inbox")
  inbox[#inbox + 1] = { x, request }
end

-- When dispatch() has work next without new input (monotonic seconds), or nil: the end of
-- a gap's wait, or the retry of a failed getDifference.
function State:next_deadline()
  local t
  for _, e in ipairs(self.pending) do
    if not t or e.deadline < t then t = e.deadline end
  end
  if self.need_diff or self.need_state or next(self.chdiff) ~= nil or (self.self_id and not self.pts) then
    if not t or self.retry_at < t then t = self.retry_at end
  end
  return t
end

local function run_handlers(st)
  local hs = st.handlers
  while #st.ready > 0 and not st.closed do
    local e = table.remove(st.ready, 1)
    keep(st, e[1])
    for i = 1, #hs do
      local ok, err = xpcall(hs[i], debug.traceback, e[1], e[2])
      if not ok then st.log("error", "update handler failed on %s: %s", tostring(e[1]._), tostring(err)) end
      if st.closed then return end
    end
  end
end

local function apply_inbox(st, fresh)
  while #st.inbox > 0 and not st.closed do
    local e = table.remove(st.inbox, 1)
    apply_updates(st, e[1], e[2], fresh)
    run_handlers(st)
  end
end

local function has_work(st, now)
  if #st.inbox > 0 or #st.ready > 0 then return true end
  if now < st.retry_at then return false end
  return st.need_diff or st.need_state or next(st.chdiff) ~= nil or (st.self_id ~= nil and st.pts == nil)
end

-- The body of dispatch(): rounds until nothing is left to do (or a server keeps it busy).
local function dispatch_loop(self)
  local rounds = 0
  while not self.closed do
    self.pull()
    local now = self.clock()
    expire(self, now)
    if not has_work(self, now) then break end
    rounds = rounds + 1
    -- what came before a state goes out unchecked (there is nothing to check it against)
    apply_inbox(self)
    if ((self.self_id and not self.pts) or self.need_state) and now >= self.retry_at and not self.closed then
      self.need_state = false
      if get_state(self) then
        self.need_diff = false
        -- what came during getState: the state may count it already, but it was never shown
        self.pull()
        apply_inbox(self, true)
      else
        self.need_state = true
      end
    end
    if self.need_diff and self.pts and now >= self.retry_at and not self.closed then
      self.need_diff = false
      if not get_difference(self) then self.need_diff = true end
    end
    local ids = {}
    for id in pairs(self.chdiff) do ids[#ids + 1] = id end
    for _, id in ipairs(ids) do
      if self.closed or now < self.retry_at then break end
      self.chdiff[id] = nil
      if not get_channel_difference(self, id) then self.chdiff[id] = true end
    end
    run_handlers(self)
    if rounds > 1000 then break end -- a server that keeps the client busy: go on next time
  end
end

-- Does the waiting work: applies what was fed, asks for state and differences, runs the
-- handlers. Returns at once when a dispatch already runs (a handler called the client, or in
-- an event loop another coroutine's dispatch waits for a difference). `dispatching` is the
-- coroutine running it (the main thread when blocking): only there is a call a handler's.
function State:dispatch()
  if self.dispatching or self.closed then return end
  self.dispatching = coroutine.running()
  local ok, err = pcall(dispatch_loop, self)
  self.dispatching = false
  if not ok then error(err, 0) end
end

-- The updates handed to handlers since the last call (at most MAX_KEPT, oldest dropped).
function State:take()
  local k = rawget(self, "kept") or {}
  self.kept, self.kept_dropped = nil, 0
  return k
end

-- The first kept update `pred` accepts (taken out of what get_updates returns unless `peek`).
function State:find(pred, peek)
  local k = self.kept
  for i, u in ipairs(k) do
    if pred(u) then
      if not peek then table.remove(k, i) end
      return u
    end
  end
end

-- Stops dispatching for good (the client closed); a running dispatch ends after the
-- handler it is in.
function State:close()
  self.closed = true
  self.inbox, self.ready, self.pending = nil, nil, nil
end

M.State = State
M.feed = State.feed
M.dispatch = State.dispatch

return M
