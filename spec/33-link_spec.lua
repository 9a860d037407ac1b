-- core.link: the sans-IO connection object, driven with plain bytes and a fake clock. The
-- server side is built in-process from the same core's server objects (handshake server,
-- server transport, message encryption): no socket, no real time.
local core = require("mtproto.core")
local tl = require("mtproto.tl")
local A, T = core.auth, core.transport

local PRIV, PUB = A.rsa_generate()
local PING = tl.encode{ _ = "ping", ping_id = 7 }
local ID_CONTAINER, ID_ACK = 0x73f1f8dc, 0x62d6b459
local ID_INVOKE_WITH_LAYER = 0xda9b0d0d
local TRUE = tl.encode{ _ = "boolTrue" }

-- A fake DC for one TCP connection at a time: handshake, then answers every request with
-- rpc_result(boolTrue) unless told to stay silent; records the msg_ids of requests seen.
local function server(opts)
  opts = opts or {}
  local srv = { seen = {}, acks = 0, key = opts.key, silent = false, next_id = 0 }
  function srv:accept()
    self.tr = T.server()
    self.auth = not self.key and A.server{ key_pem = PRIV } or nil
  end
  -- answers have msg_id % 4 == 1, the server's own messages (updates) 3
  local function out_msg(self, now, body, mod4)
    self.next_id = T.msgid_next(self.next_id, 0, math.floor(now * 1e9), mod4 or 1)
    return self.tr:encode(assert(T.msg_encrypt(self.key, 8, { salt = self.salt, session_id = self.session_id,
      msg_id = self.next_id, seqno = 1, body = body })))
  end
  srv.out_msg = out_msg
  local function requests(self, msg_id, body, list)
    local ctor = string.unpack("<I4", body)
    if ctor == ID_CONTAINER then
      for _, m in ipairs(T.container_unpack(body)) do requests(self, m.msg_id, m.body, list) end
    elseif ctor == ID_ACK then
      self.acks = self.acks + 1
    else
      self.seen[#self.seen + 1] = msg_id
      self.first_ctor = self.first_ctor or ctor
      list[#list + 1] = msg_id
    end
  end
  -- Bytes from the client -> bytes to it.
  function srv:handle(bytes, now)
    assert(self.tr:feed(bytes))
    local out = {}
    while true do
      local frame = self.tr:next()
      if not frame then break end
      if self.auth then
        local _, body = assert(A.plain_unwrap(frame))
        local st, answer = assert(self.auth:step(body, math.floor(now)))
        self.next_id = T.msgid_next(self.next_id, 0, math.floor(now * 1e9), 1)
        out[#out + 1] = self.tr:encode(A.plain_wrap(self.next_id, answer))
        if st == "done" then
          local r = self.auth:result()
          self.key, self.salt, self.auth = r.auth_key, r.server_salt, nil
          self.keys_made = (self.keys_made or 0) + 1
        end
      else
        local m = assert(T.msg_decrypt(self.key, 0, frame))
        self.session_id, self.salt = m.session_id, m.salt
        local list = {}
        requests(self, m.msg_id, m.body, list)
        if not self.silent then
          for _, id in ipairs(list) do
            out[#out + 1] = out_msg(self, now, string.pack("<I4i8", 0xf35c6d01, id) .. TRUE)
          end
        end
      end
    end
    return table.concat(out)
  end
  return srv
end

local function new_link(extra)
  local o = { dc_id = 2, transport = "intermediate", rsa_keys = { PUB }, timeout = 10, connect_timeout = 5,
    init = { api_id = 1 } }
  for k, v in pairs(extra or {}) do o[k] = v end
  return core.link.new(o)
end

-- Moves bytes both ways until neither side has anything to say; the handshake's math runs
-- one piece per tick, due at once (spec/36).
local function exchange(link, srv, now)
  for _ = 1, 40 do
    local out = link:output(now)
    if out ~= "" then
      local back = srv:handle(out, now)
      if back ~= "" then link:feed(back, now) end
    elseif link:state() == "open" and link:deadline() and link:deadline() <= now then
      link:tick(now)
    else
      return
    end
  end
  error("no quiet after 40 rounds")
end

local function types(events)
  local t = {}
  for i, e in ipairs(events) do t[i] = e.type end
  return t
end

describe("core.link (sans-IO, fake clock)", function()
  it("connects when a call is queued, makes a key, answers the call and keeps idle down", function()
    local link <close> = new_link()
    assert.equal("down", link:state())
    assert.is_nil(link:deadline())
    local id = link:send(PING, 100)
    assert.equal("connecting", link:state())
    assert.equal(1, link:epoch())
    assert.equal(105, link:deadline())                    -- the TCP connect's deadline
    local srv = server(); srv:accept()
    link:connected(100)
    assert.equal("open", link:state())                   -- handshake running
    exchange(link, srv, 100.01)
    assert.equal("ready", link:state())
    assert.equal(TRUE, link:take(id))
    assert.same({ "key", "connected", "answer" }, types(link:events()))
    assert.equal(ID_INVOKE_WITH_LAYER, srv.first_ctor)   -- the first call carries initConnection
    assert.equal(1, link:info().connections)
    assert.is_truthy(link:info().auth_key)
  end)

  it("bounds a call by its deadline: TIMEOUT, and it is never sent again", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0, 3)
    link:connected(0)
    srv.silent = true
    exchange(link, srv, 0)
    assert.equal(1, #srv.seen)
    assert.is_false(link:take(id))
    link:tick(2.9)
    assert.is_false(link:take(id))
    assert.equal(3, link:deadline())
    link:tick(3)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.same({ -16, "TIMEOUT" }, { err.code, err.message })
    -- a new connection re-sends what still waits: nothing
    link:disconnect(3)
    assert.equal("down", link:state())
    link:send(PING, 3)
    srv:accept(); link:connected(3)
    exchange(link, srv, 3)
    assert.equal(2, #srv.seen)
    assert.are_not.equal(srv.seen[1], srv.seen[2])
  end)

  it("re-sends a call lost with its connection, under the same msg_id, and takes the answer", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    srv.silent = true
    exchange(link, srv, 0)
    link:lost(0.5, "closed")
    assert.equal("connecting", link:state())             -- at once: the connection had worked
    assert.equal(2, link:epoch())
    srv.silent = false; srv:accept()
    link:connected(0.5)
    exchange(link, srv, 0.5)
    assert.equal(TRUE, link:take(id))
    assert.same({ srv.seen[1], srv.seen[1] }, srv.seen)
    assert.equal(1, srv.keys_made)                       -- same key on the second connection
  end)

  it("backs off between failed connects (0.1, 0.2, 0.4 ... 3 s) until the call's deadline", function()
    local link <close> = new_link{ timeout = 30, auth_key = string.rep("\7", 256) }
    local id = link:send(PING, 0)
    link:connected(0)
    assert.is_true(#link:output(0) > 0)                  -- sent: it waits for the next connection
    link:lost(0, "closed")
    assert.equal("connecting", link:state())             -- at once: the connection had worked
    local now, pauses = 0, {}
    for _ = 1, 8 do
      assert.equal("connecting", link:state())
      link:lost(now, "io", "refused")
      local at = link:deadline()
      if link:state() == "connecting" then
        pauses[#pauses + 1] = 0
      else
        pauses[#pauses + 1] = at - now
        link:tick(at - 0.001)
        assert.equal("down", link:state())               -- still pausing
        now = at
        link:tick(now)
      end
    end
    for i, want in ipairs { 0.1, 0.2, 0.4, 0.8, 1.6, 3, 3, 3 } do
      assert.near(want, pauses[i], 1e-6, "pause " .. i)
    end
    link:lost(now, "io", "refused")
    link:tick(30)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.equal("NETWORK_ERROR", err.message)           -- the reason it could not be re-sent
    assert.equal("down", link:state())                   -- nothing waits any more
    assert.is_nil(link:deadline())
  end)

  it("bounds the TCP connect by connect_timeout and the handshake by timeout", function()
    local link <close> = new_link{ connect_timeout = 2, timeout = 4 }
    link:connect(0, 60)
    link:tick(2)
    local ev = link:events()
    assert.same({ "lost" }, types(ev))
    assert.equal(-16, ev[1].code)
    assert.equal("connecting", link:state())             -- first retry at once
    link:connected(2)
    assert.equal(6, link:deadline())                     -- a silent server: the handshake's deadline
    link:output(2)
    link:tick(6)
    local msg, detail = link:error()
    assert.equal("TIMEOUT", msg)
    assert.matches("handshake", detail)
  end)

  it("makes a new key after a -404 and re-sends the call under it", function()
    local link <close> = new_link{ auth_key = string.rep("\7", 256) }
    local srv = server{ key = string.rep("\8", 256) }; srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    assert.equal("ready", link:state())                  -- a saved key: no handshake
    srv.tr:feed(link:output(0))
    assert.same({ "connected" }, types(link:events()))
    link:feed(srv.tr:encode(string.pack("<i4", -404)), 0)
    assert.matches("TRANSPORT_ERROR_404", (link:error()))
    assert.equal("connecting", link:state())
    srv.key = nil; srv:accept()
    link:connected(0.1)
    exchange(link, srv, 0.1)
    assert.equal(TRUE, link:take(id))
    assert.are_not.equal(string.rep("\7", 256), link:info().auth_key)
    assert.same({ "lost", "key", "connected", "answer" }, types(link:events()))
  end)

  it("fails the calls waiting on a fatal transport error (-429) instead of retrying", function()
    local link <close> = new_link{ auth_key = string.rep("\7", 256) }
    local srv = server{ key = string.rep("\7", 256) }; srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    srv.tr:feed(link:output(0))
    link:feed(srv.tr:encode(string.pack("<i4", -429)), 0)
    local r, err = link:take(id)
    assert.is_nil(r)
    assert.equal("TRANSPORT_ERROR_429", err.message)
    assert.equal("down", link:state())
  end)

  it("acks answers after 0.2 s of quiet, and passes updates on as bytes", function()
    local link <close> = new_link()
    local srv = server(); srv:accept()
    local id = link:send(PING, 0)
    link:connected(0)
    exchange(link, srv, 0)
    assert.equal(TRUE, link:take(id))
    assert.equal(0, srv.acks)
    assert.equal("", link:output(0.1))
    assert.near(0.2, link:deadline(), 1e-9)
    link:tick(0.2)
    srv:handle(link:output(0.2), 0.2)
    assert.equal(1, srv.acks)
    link:events()
    local upd = tl.encode{ _ = "updatesTooLong" }
    link:feed(srv:out_msg(1, upd, 3), 1)
    local ev = link:events()
    assert.same({ "update" }, types(ev))
    assert.equal(upd, ev[1].bytes)
  end)

  it("gives up a connect attempt nothing waits for any more", function()
    local link <close> = new_link()
    link:send(PING, 0, 1)
    link:tick(1)
    assert.equal("down", link:state())
    assert.is_nil(link:deadline())
    -- an explicit connect() wants the connection without calls, until its deadline
    link:connect(1, 20)
    assert.equal("connecting", link:state())
    local srv = server(); srv:accept()
    link:connected(1)
    exchange(link, srv, 1)
    assert.equal("ready", link:state())
  end)
end)
